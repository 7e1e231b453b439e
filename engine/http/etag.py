"""Entity tags: strong validators for JSON representations, and the If-Match / If-None-Match tests.

A single row's tag is computed from the JSON body a plain GET returns, with sorted keys, so the
tag a client got from GET matches the tag of the row locked for its PATCH or DELETE, whatever
column order a statement returned. Other bodies (lists, a row with embedded rows, whose tag
If-Match could never match) are tagged from their bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from engine.kernel.errors import PreconditionFailed


def _tag(data: bytes) -> str:
    # Not a security boundary, only "did the bytes change": SHA-1 runs on the CPU's SHA extensions,
    # twice as fast as BLAKE2 on a 14 KB page; 128 bits of it keep collisions out of reach.
    return '"' + hashlib.sha1(data).hexdigest()[:32] + '"'


def entity_tag(body: Any) -> str:
    """The strong tag of a JSON value (a response body before serialization)."""
    return _tag(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str))


def body_tag(body: bytes) -> str:
    return _tag(body)


def item_tag(row: dict[str, Any]) -> str:
    """The tag of one row as the read handler serves it ({"data": row})."""
    return entity_tag({"data": row})


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def none_match(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" and "x" are the same representation."""
    plain = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == plain for tag in _tags(header))


class Preconditions:
    """A write's If-Match and If-None-Match, checked against the row as it is before the write
    (RFC 9110 13.1): If-Match first, strong comparison, weak tags never match; then If-None-Match,
    weak comparison, `*` matching any row. Either failing is a 412 and nothing is written."""

    __slots__ = ("match", "none_match")

    def __init__(self, match: list[str] | None, none_match: str | None):
        self.match, self.none_match = match, none_match

    @property
    def requires_row(self) -> bool:
        """If-Match matches only a row that exists: a key with none is a 412, not a create."""
        return self.match is not None

    def __call__(self, previous: dict[str, Any]) -> None:
        current = item_tag(previous)
        if self.match is not None and "*" not in self.match and current not in self.match:
            raise PreconditionFailed(
                "the row changed since you read it (If-Match does not match its current ETag); "
                "GET it again, reapply your change, and send the new ETag",
                etag=current,
            )
        if self.none_match is not None and none_match(self.none_match, current):
            raise PreconditionFailed(
                "If-None-Match: * asks for no current row, and this key has one; nothing was written"
                if self.none_match.strip() == "*"
                else "the row's current ETag is one If-None-Match lists; nothing was written",
                etag=current,
            )


def write_preconditions(request: web.Request) -> Preconditions | None:
    """The `expect` check of a PATCH, PUT or DELETE (None without If-Match and If-None-Match)."""
    match, none = request.headers.get("If-Match"), request.headers.get("If-None-Match")
    if match is None and none is None:
        return None
    return Preconditions(None if match is None else _tags(match), none)
