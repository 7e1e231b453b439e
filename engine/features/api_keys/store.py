"""API keys: high-entropy secrets stored only as SHA-256 hashes, each narrowed by its scopes.

A key is ``rek_`` + 43 URL-safe characters (256 random bits), so a plain SHA-256 is the right hash:
nothing can be guessed, and a lookup is one indexed equality. The first characters (``prefix``) are
kept to let people tell their keys apart. Every request made with a key reads its row, so deleting
a key, or its expiry, takes effect on every worker at the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlglot

from engine.db.internal import table_model
from engine.sql.compiled import Compiled, compile_expression

TABLE = "_engine_api_keys"
KEY_PREFIX = "rek_"
SHOWN_PREFIX = len(KEY_PREFIX) + 8  # how much of a key its lists show
LAST_USED_EVERY = 60  # seconds: last_used_at is rewritten at most this often per key
MODEL = table_model(
    TABLE,
    {
        "id": {"type": "uuid", "nullable": False, "default": {"kind": "uuid"}},
        "user_id": {"type": "text", "nullable": False, "default": None},
        "name": {"type": "text", "nullable": False, "default": None},
        "prefix": {"type": "text", "nullable": False, "default": None},
        "key_hash": {"type": "text", "nullable": False, "default": None},
        "scopes": {"type": "jsonb", "nullable": False, "default": None},
        "roles": {"type": "jsonb", "nullable": False, "default": None},
        "created_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
        "last_used_at": {"type": "timestamptz", "nullable": True, "default": None},
        "expires_at": {"type": "timestamptz", "nullable": True, "default": None},
    },
    "id",
    unique={f"{TABLE}_key_hash_key": ["key_hash"]},
    indexes={f"{TABLE}_user_id_idx": [["user_id", False], ["created_at", False]]},
)


def _sql(text: str) -> Compiled:
    """Fixed statements, written as SQL and compiled once (named ``:values`` become ``$n``)."""
    return compile_expression(sqlglot.parse_one(text, read="postgres"))


_SHOWN = "id, user_id, name, prefix, scopes, roles, created_at, last_used_at, expires_at"
_INSERT = _sql(
    f"INSERT INTO {TABLE} (user_id, name, prefix, key_hash, scopes, roles, expires_at) "
    f"VALUES (:user, :name, :prefix, :hash, :scopes, :roles, :expires) RETURNING {_SHOWN}"
)
_FIND = _sql(f"SELECT {_SHOWN} FROM {TABLE} WHERE key_hash = :hash")
_TOUCH = _sql(f"UPDATE {TABLE} SET last_used_at = now() WHERE id = :id")
_OF_USER = _sql(f"SELECT {_SHOWN} FROM {TABLE} WHERE user_id = :user ORDER BY created_at, id")
_ALL = _sql(f"SELECT {_SHOWN} FROM {TABLE} ORDER BY created_at, id LIMIT :limit")
_COUNT = _sql(f"SELECT count(*) FROM {TABLE} WHERE user_id = :user")
_DELETE = _sql(f"DELETE FROM {TABLE} WHERE id = :id RETURNING user_id")
_DELETE_OWN = _sql(f"DELETE FROM {TABLE} WHERE id = :id AND user_id = :user RETURNING user_id")
_DELETE_USER = _sql(f"DELETE FROM {TABLE} WHERE user_id = :user")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_key(token: str) -> bool:
    """A bearer token that is one of ours, not a JWT (a JWT starts with ``ey``, never ``rek_``)."""
    return token.startswith(KEY_PREFIX)


@dataclass(frozen=True)
class ApiKey:
    """A key as its owner may see it: everything but the secret."""

    id: str
    user_id: str
    name: str
    prefix: str
    scopes: list[str]
    roles: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> ApiKey:
        return cls(**{**dict(row), "id": str(row["id"]), "scopes": list(row["scopes"]), "roles": list(row["roles"])})

    def shown(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": self.scopes,
            "roles": self.roles,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
        }


class ApiKeys:
    """The key table, through the app's pool."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def create(
        self, user_id: str, name: str, scopes: list[str], roles: list[str], expires_at: datetime | None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (returned once; only its hash is stored)."""
        key = new_key()
        values = {
            "user": user_id,
            "name": name,
            "prefix": key[:SHOWN_PREFIX],
            "hash": hash_key(key),
            "scopes": sorted(set(scopes)),
            "roles": sorted(set(roles)),
            "expires": expires_at,
        }
        row = await self.pool.fetchrow(_INSERT.sql, *_INSERT.args(values))
        return ApiKey.of(row), key

    async def find(self, key: str) -> ApiKey | None:
        """The key's row (None when unknown or deleted); notes its use at most once a minute."""
        row = await self.pool.fetchrow(_FIND.sql, *_FIND.args({"hash": hash_key(key)}))
        if row is None:
            return None
        found = ApiKey.of(row)
        now = datetime.now(found.created_at.tzinfo)
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() >= LAST_USED_EVERY:
            await self.pool.execute(_TOUCH.sql, *_TOUCH.args({"id": row["id"]}))
        return found

    async def count(self, user_id: str) -> int:
        return await self.pool.fetchval(_COUNT.sql, *_COUNT.args({"user": user_id}))

    async def of_user(self, user_id: str) -> list[ApiKey]:
        return [ApiKey.of(row) for row in await self.pool.fetch(_OF_USER.sql, *_OF_USER.args({"user": user_id}))]

    async def every(self, limit: int) -> list[ApiKey]:
        return [ApiKey.of(row) for row in await self.pool.fetch(_ALL.sql, *_ALL.args({"limit": limit}))]

    async def delete(self, key_id: str, owner: str | None) -> bool:
        """Delete a key: any key (owner None, an admin), else only one of `owner`'s."""
        if owner is None:
            return await self.pool.fetchval(_DELETE.sql, *_DELETE.args({"id": key_id})) is not None
        deleted = await self.pool.fetchval(_DELETE_OWN.sql, *_DELETE_OWN.args({"id": key_id, "user": owner}))
        return deleted is not None


async def delete_user_keys(conn: asyncpg.Connection, user_id: str) -> None:
    """A deleted user's keys go with them, in the delete's transaction."""
    await conn.execute(_DELETE_USER.sql, *_DELETE_USER.args({"user": user_id}))
