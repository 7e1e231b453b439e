"""Idempotency keys: the first response to a POST, kept in `_engine_idempotency` for a retry to get.

A request *claims* its key with one INSERT ... ON CONFLICT, so of two concurrent duplicates
exactly one runs; the other learns the key is in progress. The claim is marked `committed` inside
the write's own transaction, so a claim whose write committed is never run again, even if the
process died before the response was recorded. A claim whose request vanished without
committing can be taken over once it is older than `stale_after`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from sqlglot import exp

from engine.db.internal import table_model
from engine.sql.compiled import compile_expression, param
from engine.sql.ddl import column, table

TABLE = "_engine_idempotency"
MODEL = table_model(
    TABLE,
    {
        "id": {"type": "text", "nullable": False, "default": None},  # sha256 of the caller and the key
        "fingerprint": {"type": "text", "nullable": False, "default": None},  # sha256 of path and body
        "status": {"type": "integer", "nullable": True, "default": None},  # null while in progress
        "headers": {"type": "jsonb", "nullable": True, "default": None},
        "body": {"type": "bytea", "nullable": True, "default": None},
        "committed": {
            "type": "boolean",
            "nullable": False,
            "default": {"kind": "value", "value": False, "type": "boolean"},
        },
        "claimed_at": {"type": "timestamptz", "nullable": False, "default": None},
        "expires_at": {"type": "timestamptz", "nullable": False, "default": None},
    },
    "id",
    indexes={f"{TABLE}_expires_at_idx": [["expires_at", False]]},
)
KEPT_HEADERS = ("Content-Type", "Location", "ETag")


def _excluded(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True), table=exp.to_identifier("excluded"))


def _is_null(name: str) -> exp.Expression:
    return exp.Is(this=column(name, TABLE), expression=exp.Null())


_RESET = {
    "fingerprint": _excluded("fingerprint"),
    "status": exp.Null(),
    "headers": exp.Null(),
    "body": exp.Null(),
    "committed": exp.false(),
    "claimed_at": _excluded("claimed_at"),
    "expires_at": _excluded("expires_at"),
}


def _claim() -> exp.Expression:
    """INSERT the claim; on a conflict take the row over only if it expired or its request vanished."""
    insert = exp.insert(
        exp.values([tuple(param(n) for n in ("id", "fingerprint", "now", "expires"))]),
        exp.Schema(
            this=table(TABLE), expressions=[column(c).this for c in ("id", "fingerprint", "claimed_at", "expires_at")]
        ),
        returning=exp.Returning(expressions=[column("id")]),
    )
    abandoned = exp.and_(
        _is_null("status"), exp.not_(column("committed", TABLE)), column("claimed_at", TABLE) < param("stale")
    )
    conflict = exp.OnConflict(
        conflict_keys=[column("id").this],
        action=exp.var("DO UPDATE"),
        expressions=[exp.EQ(this=column(name), expression=value) for name, value in _RESET.items()],
        where=exp.Where(this=exp.or_(column("expires_at", TABLE) < param("now"), abandoned)),
    )
    insert.set("conflict", conflict)
    return insert


_CLAIM = compile_expression(_claim())
_FIND = compile_expression(
    exp.select(*[column(c) for c in ("fingerprint", "status", "headers", "body", "committed")])
    .from_(table(TABLE))
    .where(column("id").eq(param("id")))
)
_COMPLETE = compile_expression(
    exp.update(
        table(TABLE),
        {"status": param("status"), "headers": param("headers"), "body": param("body")},
        where=column("id").eq(param("id")),
    )
)
_MARK_COMMITTED = compile_expression(
    exp.update(table(TABLE), {"committed": exp.true()}, where=column("id").eq(param("id")))
)
_COMMIT_RESPONSE = compile_expression(
    exp.update(
        table(TABLE),
        {"committed": exp.true(), "status": param("status"), "headers": param("headers"), "body": param("body")},
        where=column("id").eq(param("id")),
    )
)
_RELEASE = compile_expression(
    exp.delete(table(TABLE)).where(
        exp.and_(column("id").eq(param("id")), _is_null("status"), exp.not_(column("committed")))
    )
)
_PURGE = compile_expression(exp.delete(table(TABLE)).where(column("expires_at") < param("now")))


@dataclass(frozen=True)
class Stored:
    """What an earlier request with the same key left: in progress (status None) or its response."""

    fingerprint: str
    status: int | None
    headers: dict[str, str] | None
    body: bytes | None
    committed: bool

    def response(self) -> web.Response:
        headers = {**(self.headers or {}), "Idempotent-Replayed": "true"}
        return web.Response(status=self.status or 200, body=self.body, headers=headers)


def claim_id(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()


def fingerprint(path: str, body: bytes) -> str:
    """The same JSON with other whitespace or key order is the same request."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(path.encode() + b"\x00" + canonical).hexdigest()


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, ttl: float, stale_after: float):
        self.pool = pool
        self.ttl = timedelta(seconds=ttl)
        self.stale_after = timedelta(seconds=stale_after)

    async def claim(self, claim: str, fingerprint: str) -> Stored | None:
        """None: the key is ours to run. Otherwise what the earlier request with it left."""
        now = datetime.now(UTC)
        values = {"id": claim, "fingerprint": fingerprint, "now": now, "expires": now + self.ttl}
        values["stale"] = now - self.stale_after
        async with self.pool.acquire() as conn:
            for _ in range(3):  # the earlier row may expire and be purged between the two statements
                if await conn.fetchval(_CLAIM.sql, *_CLAIM.args(values)) is not None:
                    return None
                row = await conn.fetchrow(_FIND.sql, *_FIND.args({"id": claim}))
                if row is not None:
                    return Stored(row["fingerprint"], row["status"], row["headers"], row["body"], row["committed"])
        raise RuntimeError("idempotency key claim did not settle")  # pragma: no cover

    async def complete(self, claim: str, response: web.Response) -> None:
        await self.pool.execute(_COMPLETE.sql, *_COMPLETE.args(_stored_values(claim, response)))

    async def release(self, claim: str) -> None:
        """The request failed before committing: a retry may run it again."""
        await self.pool.execute(_RELEASE.sql, *_RELEASE.args({"id": claim}))

    async def purge(self) -> None:
        await self.pool.execute(_PURGE.sql, *_PURGE.args({"now": datetime.now(UTC)}))


def _stored_values(claim: str, response: web.Response) -> dict[str, Any]:
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    return {"id": claim, "status": response.status, "headers": headers, "body": response.body}


async def commit_response(conn: Any, claim: str, response: web.Response) -> None:
    """Inside the write's transaction: the claim is done, and its response is kept with it, so a retry
    after a crash or a client that hung up between the commit and the reply still gets the 201."""
    await conn.execute(_COMMIT_RESPONSE.sql, *_COMMIT_RESPONSE.args(_stored_values(claim, response)))


async def mark_committed(conn: Any, claim: str) -> None:
    """Inside the write's transaction: this claim's work is done once the transaction commits."""
    await conn.execute(_MARK_COMMITTED.sql, *_MARK_COMMITTED.args({"id": claim}))
