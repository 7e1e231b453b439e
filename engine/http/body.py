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
from typing import Any

import orjson
from aiohttp import web

from engine.kernel.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

JSON_TYPES = ("application/json", "application/merge-patch+json")
MAX_DEPTH = 64
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
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


def _depth_and_keys(document: Any) -> tuple[int, int]:
    """(nesting depth, a scalar counting as a level; keys of all objects). Only containers are
    stacked: a bulk body holds thousands of scalars."""
    if not isinstance(document, (dict, list)):
        return 1, 0
    deepest, keys, stack = 1, 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            keys += len(node)
            node = node.values()
        inner = level + 1
        for value in node:
            if isinstance(value, (dict, list)):
                stack.append((value, inner))
            elif inner > deepest:
                deepest = inner
        if level > deepest:
            deepest = level
    return deepest, keys


def _fast_object(raw: bytes) -> tuple[dict[str, Any], int] | None:
    """(document, depth) from orjson when it equals what the strict parser returns; else None."""
    if _LONG_DIGITS.search(raw):
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    depth, keys = _depth_and_keys(document)
    return (document, depth) if keys == len(_KEY_END.findall(raw)) else None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant, parse_float=_finite)
    except _Refused as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {str(exc)[:200]}") from None


def parse_object(raw: bytes) -> tuple[dict[str, Any], int]:
    """A JSON object and its nesting depth: the strict parser's answer, from orjson when it is the same."""
    fast = _fast_object(raw)
    if fast is not None:
        return fast
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    return document, _depth_and_keys(document)[0]


async def read_object(request: web.Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, or the precise 4xx problem."""
    if request.content_type not in JSON_TYPES:
        shown = request.content_type or "none"
        raise UnsupportedMediaType(f"send the body as application/json (got {shown})")
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")
    raw = await request.read()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    document, depth = parse_object(raw)
    if depth > MAX_DEPTH:
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels")
    if _NUL.search(raw):
        raise ValidationFailed([{"path": "/", "message": "strings may not contain NUL (\\u0000) characters"}])
    if _SURROGATE_ESCAPE.search(raw) and not _encodable(document):
        message = "strings may not contain unpaired surrogates (\\ud800-\\udfff)"
        raise ValidationFailed([{"path": "/", "message": message}])
    if _LONG_DIGITS.search(raw):
        oversized = _oversized_integers(document)
        if oversized:
            raise ValidationFailed(oversized)
    return document


def _oversized_integers(document: Any) -> list[dict[str, str]]:
    """Integers beyond 64 bits, anywhere in the body: no column (nor jsonb read back through orjson) holds them."""
    found, stack = [], [(document, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, f"{pointer}/{k.replace('~', '~0').replace('/', '~1')}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            found.append({"path": pointer, "message": f"integers must be between {INT64_MIN} and {INT64_MAX}"})
    return sorted(found, key=lambda e: e["path"])


def _encodable(document: Any) -> bool:
    """False when a \\uD8xx escape left a lone surrogate: no database or JSON encoder can store it."""
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True
