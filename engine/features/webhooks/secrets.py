"""Signing secrets at rest: encrypted with ENGINE_FIELD_KEYS (the keys of secret fields).

The engine must sign with the plain secret, so it cannot keep only a hash; it keeps the secret
encrypted with the same MultiFernet keys as `writeOnly` fields (features/secrets/keys.py), and the
same `resource-engine keys rotate` re-encrypts them with the newest key. A stored value is
``enc1:`` + a Fernet token; anything else is a secret stored in plain text before encryption came
(``whsec_...``), still used as it is until `keys rotate` encrypts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from engine.features.secrets.keys import VARIABLE, FieldKeys, Undecryptable, configured_keys
from engine.features.webhooks.store import ENDPOINTS_EXIST, SECRETS, SET_SECRET
from engine.kernel.config import Config
from engine.spec import Spec

PREFIX = "enc1:"  # the version of the stored form: a new scheme gets a new prefix


def webhook_keys(spec: Spec, config: Config) -> FieldKeys | None:
    """ENGINE_FIELD_KEYS, or the development key; None in production without keys (then no endpoint
    can be registered, and endpoints stored in plain text keep working)."""
    return configured_keys(config, spec.root)


def seal(secret: str, keys: FieldKeys) -> str:
    """The stored form of a new signing secret."""
    return PREFIX + keys.encrypt(secret)


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def unseal(stored: str, keys: FieldKeys | None) -> str:
    """The signing secret of a stored value (a plain, pre-encryption value as it is).

    Raises Undecryptable when no configured key opens it (or no keys are configured)."""
    if not is_sealed(stored):
        return stored
    if keys is None:
        raise Undecryptable(f"the signing secret is encrypted and {VARIABLE} is not set")
    return keys.decrypt(stored[len(PREFIX) :])


@dataclass
class SecretRotation:
    rows: int = 0
    encrypted: int = 0  # of which were stored in plain text before
    failed: int = 0  # no configured key opens them: left as they are


async def rotate_secrets(conn: asyncpg.Connection, keys: FieldKeys) -> SecretRotation:
    """Re-encrypt every endpoint's signing secret with the newest key, encrypting plain ones, in
    one transaction (endpoints are few). Nothing to do when the table was never made."""
    result = SecretRotation()
    if await conn.fetchval(ENDPOINTS_EXIST.sql) is not True:
        return result
    async with conn.transaction():
        for row in await conn.fetch(SECRETS.sql):
            stored = row["secret"]
            try:
                if is_sealed(stored):
                    value = PREFIX + keys.rotate(stored[len(PREFIX) :])
                else:
                    value, result.encrypted = seal(stored, keys), result.encrypted + 1
            except Undecryptable:
                result.failed += 1
                continue
            await conn.execute(SET_SECRET.sql, *SET_SECRET.args({"id": row["id"], "secret": value}))
            result.rows += 1
    return result
