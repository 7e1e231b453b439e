"""Sign-ins already completed, so a pending sign-in (state, nonce, PKCE verifier) works once only.

The pending sign-in waits in the browser's session, which may be a cookie: a copy of the pre-login
cookie would otherwise let the callback run the code exchange again. The callback records the
sign-in's state (as a SHA-256 hash) before it talks to the provider; a state already recorded
is refused. Records older than the sign-in window are useless (the pending sign-in has expired)
and are purged as new ones arrive.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlglot import exp

from engine.db.internal import table_model
from engine.features.google_oauth.oidc import PENDING_TTL
from engine.sql.compiled import compile_expression, param
from engine.sql.ddl import column, table

TABLE = "_engine_spent_sign_ins"
SPENT = table_model(
    TABLE,
    {
        "state_hash": {"type": "text", "nullable": False, "default": None},
        "spent_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
    },
    "state_hash",
    indexes={f"{TABLE}_spent_at_idx": [["spent_at", False]]},
)

_insert = exp.insert(
    exp.values([(param("hash"),)]), exp.Schema(this=table(TABLE), expressions=[column("state_hash").this])
)
_insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
_insert.set("returning", exp.Returning(expressions=[column("state_hash")]))
_SPEND = compile_expression(_insert)
_PURGE = compile_expression(exp.delete(table(TABLE)).where(column("spent_at") < param("before")))


async def spend(pool: asyncpg.Pool, state: str) -> bool:
    """Record the sign-in with this state as completed; False when it already was."""
    before = datetime.now(UTC) - timedelta(seconds=2 * PENDING_TTL)
    async with pool.acquire() as conn:
        await conn.execute(_PURGE.sql, *_PURGE.args({"before": before}))
        digest = hashlib.sha256(state.encode()).hexdigest()
        return await conn.fetchval(_SPEND.sql, *_SPEND.args({"hash": digest})) is not None
