"""Retired user ids: the id of a deleted user is never given to anyone again.

Deleting a row of the users resource records its id here, in the delete's own transaction.
Creating a users row with a recorded id is refused, and any credential whose subject is a
recorded id (an access token, an API key, a session) is a 401. Because an id is never reused,
nothing issued to or recorded about a deleted user (tokens, sessions, rows kept by resources
without a cascade, events) can ever be read by a later user: no later user has that id.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlglot import exp

from engine.db.internal import table_model
from engine.sql.compiled import compile_expression, param
from engine.sql.ddl import column, table
from engine.sql.notify import schema_notice

TABLE = "_engine_retired_users"
# Sent inside the retiring transaction (delivered on commit): caches of verified credentials
# in any process drop the user's entries on it. The payload is "<schema>:<user id>".
CHANNEL = "resource_engine_identity"
USERS = "users"  # the resource whose rows are the users (token `sub`, sessions, owners)
MODEL = table_model(
    TABLE,
    {
        "user_id": {"type": "text", "nullable": False, "default": None},
        "retired_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
    },
    "user_id",
)

_insert = exp.insert(
    exp.values([(param("user"),)]), exp.Schema(this=table(TABLE), expressions=[column("user_id").this])
)
_insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
_RETIRE = compile_expression(_insert)
_FIND = compile_expression(
    exp.select(exp.Literal.number(1)).from_(table(TABLE)).where(column("user_id").eq(param("user")))
)
_NOTIFY = schema_notice("user")


async def retire(conn: asyncpg.Connection, user_id: str) -> None:
    """Inside the delete's transaction: the id is never valid again, and caches hear of it on commit."""
    await conn.execute(_RETIRE.sql, *_RETIRE.args({"user": user_id}))
    await conn.execute(_NOTIFY.sql, *_NOTIFY.args({"channel": CHANNEL, "user": user_id}))


async def is_retired(db: Any, user_id: str) -> bool:
    """True when `user_id` belonged to a deleted user (`db`: a pool or a connection)."""
    return await db.fetchval(_FIND.sql, *_FIND.args({"user": user_id})) is not None
