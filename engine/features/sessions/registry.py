"""The server's record of every signed-in browser session, so a session can end on the server.

A cookie session lives in the browser (encrypted), so clearing the cookie at logout cannot stop a
copy of it. Each sign-in therefore gets a random session id, kept in the session and recorded here
(as a SHA-256 hash); a session is honoured only while its record is live. Logout ends the record,
"sign out everywhere" and deleting the user end every record of the user, whatever the storage
(cookie or Redis).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from engine.db.internal import table_model
from engine.sql.compiled import compile_expression, param
from engine.sql.ddl import column, table

TABLE = "_engine_sessions"
MODEL = table_model(
    TABLE,
    {
        "session_hash": {"type": "text", "nullable": False, "default": None},
        "user_id": {"type": "text", "nullable": False, "default": None},
        "created_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
        "expires_at": {"type": "timestamptz", "nullable": False, "default": None},
        "ended_at": {"type": "timestamptz", "nullable": True, "default": None},
    },
    "session_hash",
    indexes={f"{TABLE}_user_id_idx": [["user_id", False]], f"{TABLE}_expires_at_idx": [["expires_at", False]]},
)

_NOW = exp.Anonymous(this="now", expressions=[])
_LIVE = exp.Is(this=column("ended_at"), expression=exp.Null())
_INSERT = compile_expression(
    exp.insert(
        exp.values([(param("hash"), param("user"), param("expires"))]),
        exp.Schema(this=table(TABLE), expressions=[column(c).this for c in ("session_hash", "user_id", "expires_at")]),
    )
)
_FIND = compile_expression(
    exp.select(exp.Literal.number(1))
    .from_(table(TABLE))
    .where(
        exp.and_(
            column("session_hash").eq(param("hash")),
            column("user_id").eq(param("user")),
            _LIVE.copy(),
            column("expires_at") > _NOW.copy(),
        )
    )
)
_END = compile_expression(
    exp.update(
        table(TABLE), {"ended_at": _NOW.copy()}, where=exp.and_(column("session_hash").eq(param("hash")), _LIVE.copy())
    )
)
_END_ALL = compile_expression(
    exp.update(
        table(TABLE), {"ended_at": _NOW.copy()}, where=exp.and_(column("user_id").eq(param("user")), _LIVE.copy())
    )
)
_PURGE = compile_expression(exp.delete(table(TABLE)).where(column("expires_at") < param("before")))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def register(db: Any, user_id: str, max_age: int) -> str:
    """Record a new signed-in session of `user_id`; returns its id (records expired a day ago are purged)."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await db.execute(_PURGE.sql, *_PURGE.args({"before": now - timedelta(days=1)}))
    values = {"hash": _hash(session_id), "user": user_id, "expires": now + timedelta(seconds=max_age)}
    await db.execute(_INSERT.sql, *_INSERT.args(values))
    return session_id


async def is_live(db: Any, session_id: str, user_id: str) -> bool:
    """True while the session of `user_id` has neither ended nor expired."""
    values = {"hash": _hash(session_id), "user": user_id}
    return await db.fetchval(_FIND.sql, *_FIND.args(values)) is not None


async def end(db: Any, session_id: str) -> None:
    await db.execute(_END.sql, *_END.args({"hash": _hash(session_id)}))


async def end_all(db: Any, user_id: str) -> None:
    """End every session of `user_id` (sign out everywhere; the user was deleted)."""
    await db.execute(_END_ALL.sql, *_END_ALL.args({"user": user_id}))
