"""Refresh tokens: opaque, stored only as SHA-256 hashes, rotated on every use, revoked by family.

Every sign-in starts a *family*. Using a refresh token marks it used and issues the next one of
the same family. A used token presented again means two parties hold the family (a stolen
token): the whole family is revoked, so both the thief and the victim must sign in again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlglot import exp

from engine.db.internal import table_model
from engine.features.accounts.retired import is_retired
from engine.kernel.errors import Unauthorized
from engine.sql.compiled import compile_expression, param
from engine.sql.ddl import column, table

TABLE = "_engine_refresh_tokens"
MODEL = table_model(
    TABLE,
    {
        "token_hash": {"type": "text", "nullable": False, "default": None},
        "family_id": {"type": "uuid", "nullable": False, "default": None},
        "user_id": {"type": "text", "nullable": False, "default": None},
        "roles": {"type": "jsonb", "nullable": False, "default": None},
        "created_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
        "expires_at": {"type": "timestamptz", "nullable": False, "default": None},
        "used_at": {"type": "timestamptz", "nullable": True, "default": None},
        "revoked_at": {"type": "timestamptz", "nullable": True, "default": None},
    },
    "token_hash",
    indexes={
        f"{TABLE}_family_id_idx": [["family_id", False]],
        f"{TABLE}_expires_at_idx": [["expires_at", False]],
        f"{TABLE}_user_id_idx": [["user_id", False]],
    },
)

_NOW = exp.Anonymous(this="now", expressions=[])
_INSERT = compile_expression(
    exp.insert(
        exp.values([tuple(param(n) for n in ("hash", "family", "user", "roles", "expires"))]),
        exp.Schema(
            this=table(TABLE),
            expressions=[column(c).this for c in ("token_hash", "family_id", "user_id", "roles", "expires_at")],
        ),
    )
)
_SELECT = (
    exp.select(*[column(c) for c in ("family_id", "user_id", "roles", "expires_at", "used_at", "revoked_at")])
    .from_(table(TABLE))
    .where(column("token_hash").eq(param("hash")))
)
_FIND = compile_expression(_SELECT.lock())
_PEEK = compile_expression(_SELECT)
_MARK_USED = compile_expression(
    exp.update(table(TABLE), {"used_at": _NOW.copy()}, where=column("token_hash").eq(param("hash")))
)
_REVOKE_FAMILY = compile_expression(
    exp.update(
        table(TABLE),
        {"revoked_at": _NOW.copy()},
        where=exp.and_(
            column("family_id").eq(param("family")), exp.Is(this=column("revoked_at"), expression=exp.Null())
        ),
    )
)
_REVOKE_USER = compile_expression(
    exp.update(
        table(TABLE),
        {"revoked_at": _NOW.copy()},
        where=exp.and_(column("user_id").eq(param("user")), exp.Is(this=column("revoked_at"), expression=exp.Null())),
    )
)
_PURGE_EXPIRED = compile_expression(exp.delete(table(TABLE)).where(column("expires_at") < param("before")))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def refused(detail: str) -> Unauthorized:
    return Unauthorized(detail, error="invalid_grant")


@dataclass(frozen=True)
class Grant:
    """Who a refresh token speaks for, and the token that replaces it."""

    user_id: str
    roles: list[str]
    refresh_token: str


class RefreshTokens:
    def __init__(self, pool: asyncpg.Pool, ttl: int):
        self.pool = pool
        self.ttl = ttl

    async def _insert(self, conn: Any, family: str, user_id: str, roles: list[str]) -> str:
        token = "rt_" + secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(seconds=self.ttl)
        values = {"hash": hash_token(token), "family": family, "user": user_id, "roles": roles, "expires": expires}
        await conn.execute(_INSERT.sql, *_INSERT.args(values))
        return token

    async def start(self, user_id: str, roles: list[str]) -> str:
        """A sign-in: a new family and its first token (expired tokens of any family are purged)."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = datetime.now(UTC) - timedelta(days=1)
            await conn.execute(_PURGE_EXPIRED.sql, *_PURGE_EXPIRED.args({"before": before}))
            return await self._insert(conn, str(uuid.uuid4()), user_id, roles)

    async def rotate(self, token: str) -> Grant:
        """Spend `token` and return its successor; a reused token revokes its family (and is refused)."""
        reused = False
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_FIND.sql, *_FIND.args({"hash": hash_token(token)}))
            if row is None or row["revoked_at"] is not None:
                raise refused("the refresh token is unknown or revoked; sign in again")
            if await is_retired(conn, row["user_id"]):  # issued while the user was being deleted
                raise refused("the refresh token's user was deleted")
            if row["used_at"] is not None:
                await conn.execute(_REVOKE_FAMILY.sql, *_REVOKE_FAMILY.args({"family": row["family_id"]}))
                reused = True
            elif row["expires_at"] <= datetime.now(UTC):
                raise refused("the refresh token has expired; sign in again")
            else:
                await conn.execute(_MARK_USED.sql, *_MARK_USED.args({"hash": hash_token(token)}))
                successor = await self._insert(conn, row["family_id"], row["user_id"], list(row["roles"]))
        if reused:  # raised after the commit, so the revocation sticks
            raise refused("the refresh token was already used: every token of this sign-in is revoked; sign in again")
        return Grant(row["user_id"], list(row["roles"]), successor)

    async def owner(self, token: str) -> str | None:
        """The user a refresh token was issued to, while it is neither revoked nor expired."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(_PEEK.sql, *_PEEK.args({"hash": hash_token(token)}))
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= datetime.now(UTC):
            return None
        return row["user_id"]

    async def revoke(self, token: str) -> bool:
        """Log out: revoke the token's whole family. False when the token is unknown."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_FIND.sql, *_FIND.args({"hash": hash_token(token)}))
            if row is None:
                return False
            await conn.execute(_REVOKE_FAMILY.sql, *_REVOKE_FAMILY.args({"family": row["family_id"]}))
            return True


async def revoke_user(db: Any, user_id: str) -> None:
    """Revoke every family of `user_id` (sign out everywhere; the user was deleted)."""
    await db.execute(_REVOKE_USER.sql, *_REVOKE_USER.args({"user": user_id}))
