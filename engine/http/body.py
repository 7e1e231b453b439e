"""Strict JSON request bodies: the right media type, within the size limit, and unambiguous JSON.

The standard library parser with hooks is the authority: it refuses duplicate keys, NaN and
Infinity, which faster parsers silently accept (a duplicate key is a classic way to smuggle a
second value past a validator). orjson parses first, and its result is kept only when it
provably equals the strict one: an object, no 19-digit runs (orjson rounds big integers to
floats), and as many keys as the bytes hold key endings (so no key was given twice).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from engine.kernel.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

JSON_TYPES = ("application/json", "application/merge-patch+json")
# Content codings aiohttp decodes (br and zstd only with their packages installed; without, its
# parser refuses them before any middleware: engine.http.parse_errors). Any other is passed through
# undecoded by aiohttp, so it is refused here rather than read as if it were plain.
DECODED_CODINGS = frozenset({"identity", "gzip", "deflate", "br", "zstd"})


def unsupported_coding(coding: str | None = None) -> UnsupportedMediaType:
    """415 for a body in a content coding the server does not decode (RFC 9110 15.5.16)."""
    named = f" {coding[:40]!r}" if coding else ""
    return UnsupportedMediaType(
        f"the request's Content-Encoding{named} is not one this server decodes: send the body uncoded, "
        "or compressed with gzip or deflate",
        headers={"Accept-Encoding": "gzip, deflate"},
    )


def refuse_unknown_coding(request: web.Request) -> None:
    """A body whose Content-Encoding aiohttp would pass through undecoded is a 415."""
    coding = request.headers.get("Content-Encoding")
    if coding is not None and request.body_exists and coding.strip().lower() not in DECODED_CODINGS:
        raise unsupported_coding(coding)


MAX_DEPTH = 64
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # "0" for a digit, " " for the rest
_LONG_RUN = b"0" * 19
_KEY_END = re.compile(rb'"[ \t\r\n]*:')  # every key ends so; a string value may too (then: strict)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"duplicate key {duplicate[:100]!r}")
    return result


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:50]} is out of range")
    return value


def has_long_digits(raw: bytes) -> bool:
    """Whether the body holds a run of 19 digits, where orjson may round an integer: one translate
    and one substring search in C, ten times faster than a regular expression on a large body."""
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZERO)


@dataclass(frozen=True, slots=True)
class Shape:
    """What one walk over a parsed body tells the checks that need it."""

    depth: int  # nesting levels, a scalar counting as one (the strict parser's guard, MAX_DEPTH)
    container_depth: int  # levels of objects and arrays only (input limits: ENGINE_MAX_JSON_DEPTH)
    keys: int  # keys of all objects (against the key endings in the bytes: none given twice)
    longest_array: int  # the most items of an array below the top (input limits: ENGINE_MAX_ARRAY_ITEMS)


def shape_of(document: Any) -> Shape:
    """The body's `Shape` in one walk. Only containers are stacked: a bulk body holds thousands of scalars."""
    if not isinstance(document, (dict, list)):
        return Shape(1, 0, 0, 0)
    deepest = containers = 1
    keys = longest = 0
    stack = [(document, 1)]
    while stack:
        node, level = stack.pop()
        if level > containers:
            containers = level
        if isinstance(node, dict):
            keys += len(node)
            node = node.values()
        elif level > 1 and len(node) > longest:
            longest = len(node)
        inner = level + 1
        for value in node:
            if isinstance(value, (dict, list)):
                stack.append((value, inner))
            elif inner > deepest:
                deepest = inner
    return Shape(max(deepest, containers), containers, keys, longest)


PARSED = web.RequestKey("engine_parsed_body", tuple)


def parsed_fast(request: web.Request | None, raw: bytes, keep: bool = False) -> tuple[Any, Shape] | None:
    """orjson's parse of the body and its shape; None when orjson refuses it (the strict parser
    then says why). With `keep` (the input-limits middleware) the parse waits on the request for
    the handler, whose call takes it: any later read parses afresh, as the handler may have
    changed the document it was given."""
    cached = request.pop(PARSED, None) if request is not None else None
    if cached is not None and cached[0] is raw:
        return cached[1]
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        result = None
    else:
        result = (document, shape_of(document))
    if keep and request is not None:
        request[PARSED] = (raw, result)
    return result


def _fast_object(raw: bytes, request: web.Request | None = None) -> tuple[dict[str, Any], int] | None:
    """(document, depth) from orjson when it equals what the strict parser returns; else None."""
    if has_long_digits(raw):
        return None
    fast = parsed_fast(request, raw)
    if fast is None or not isinstance(fast[0], dict):
        return None
    document, shape = fast
    return (document, shape.depth) if shape.keys == len(_KEY_END.findall(raw)) else None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant, parse_float=_finite)
    except _Refused as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {str(exc)[:200]}") from None


def parse_object(raw: bytes, request: web.Request | None = None) -> tuple[dict[str, Any], int]:
    """A JSON object and its nesting depth: the strict parser's answer, from orjson when it is the same."""
    fast = _fast_object(raw, request)
    if fast is not None:
        return fast
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    return document, shape_of(document).depth


def check_body_headers(request: web.Request, limit: int) -> None:
    """What the headers alone refuse, before the body is read: not JSON or in a coding the server
    does not decode (415), or declared larger than the limit (413)."""
    if request.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(f"send the body as application/json (got {request.content_type or 'none'})")
    refuse_unknown_coding(request)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")


async def read_object(request: web.Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, or the precise 4xx problem."""
    check_body_headers(request, limit)
    raw = await request.read()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    document, depth = parse_object(raw, request)
    if depth > MAX_DEPTH:
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels")
    refuse_unstorable(document, raw, escapes=b"\\u" in raw, long_digits=has_long_digits(raw))
    return document


NUL_MESSAGE = "strings may not contain NUL (\\u0000) characters"
SURROGATE_MESSAGE = "strings may not contain unpaired surrogates (\\ud800-\\udfff)"
INTEGER_MESSAGE = f"integers must be between {INT64_MIN} and {INT64_MAX}"


def refuse_unstorable(document: Any, raw: bytes, escapes: bool, long_digits: bool) -> None:
    """422 naming every value no column can store (a NUL, an unpaired surrogate, an integer beyond 64
    bits), each at its JSON pointer. Scans of the bytes decide whether to walk the document at all:
    `escapes` (the body has a ``\\u`` escape) and `long_digits` (a run of 19 digits)."""
    nul = escapes and _NUL.search(raw) is not None
    surrogate = escapes and _SURROGATE_ESCAPE.search(raw) is not None and not _encodable(document)
    if nul or surrogate or long_digits:
        found = _unstorable(document)
        if found:
            raise ValidationFailed(found)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode()
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def _unstorable(document: Any) -> list[dict[str, str]]:
    """The values and keys of `document` no column (nor jsonb read back through orjson) can hold."""
    found, stack = [], [(document, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{pointer}/{_pointer_token(key)}"
                problem = _text_problem(key)
                if problem is not None:
                    found.append({"path": child, "message": problem.replace("strings", "keys", 1)})
                stack.append((value, child))
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(node))
        elif isinstance(node, str):
            problem = _text_problem(node)
            if problem is not None:
                found.append({"path": pointer, "message": problem})
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            found.append({"path": pointer, "message": INTEGER_MESSAGE})
    return sorted(found, key=lambda e: e["path"])


def _pointer_token(key: str) -> str:
    """A key as a JSON Pointer token (RFC 6901), an unpaired surrogate written as its escape
    (\\ud800): the problem naming it must itself be valid JSON."""
    token = key.replace("~", "~0").replace("/", "~1")
    return token.encode("utf-8", "backslashreplace").decode()


def _encodable(document: Any) -> bool:
    """False when a \\uD8xx escape left a lone surrogate: no database or JSON encoder can store it."""
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True
