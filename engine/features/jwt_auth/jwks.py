"""A JSON Web Key Set fetched over HTTP with aiohttp and cached, so verifying never blocks the loop.

Keys are refetched when the cache is older than `lifespan`, and when a token names a key id we
do not know (the provider rotated its keys) but at most once per `min_refresh` seconds, so a
flood of tokens with invented key ids cannot make the server hammer the provider.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt

KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


class JwksError(Exception):
    """The key set could not be fetched or read; the message says why (never a token)."""


class UnknownKey(Exception):
    """No key in the set has this key id (or it does not fit the token's algorithm)."""


class JwksCache:
    def __init__(self, url: str, *, lifespan: float = 300, min_refresh: float = 30, timeout: float = 5):
        self.url = url
        self.lifespan = lifespan
        self.min_refresh = min_refresh
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self.generation = 0  # +1 whenever a refresh withdraws a key: tokens verified before are checked again

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def current_generation(self) -> int:
        """The key set's generation, after refetching it when older than `lifespan` (as `key` does)."""
        if self._fetched_at is not None and time.monotonic() - self._fetched_at > self.lifespan:
            await self._refresh_if_old()
        return self.generation

    async def key(self, kid: Any, algorithm: str) -> Any:
        """The verification key for `kid`, fetching or refetching the set when needed."""
        if not isinstance(kid, str) or not kid:
            raise UnknownKey("the token has no key id (kid)")
        if self._fetched_at is None or time.monotonic() - self._fetched_at > self.lifespan:
            await self._refresh_if_old()
        jwk = self._keys.get(kid)
        if jwk is None:
            await self._refresh(force=False)
            jwk = self._keys.get(kid)
        if jwk is None:
            raise UnknownKey("unknown key id (kid)")
        if jwk.key_type != KEY_TYPES.get(algorithm):
            raise UnknownKey(f"key {kid[:40]!r} cannot verify {algorithm} signatures")
        return jwk.key

    async def _refresh_if_old(self) -> None:
        try:
            await self._refresh(force=True)
        except JwksError:
            if not self._keys:
                raise  # keep verifying with the keys we have while the provider is unreachable

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            fetched = self._fetched_at
            if fetched is not None and time.monotonic() - fetched < (1 if force else self.min_refresh):
                return  # another request just refreshed, or an unknown kid asked too recently
            keys = parse_key_set(await self._fetch())
            if not self._keys.keys() <= keys.keys():  # a key was withdrawn
                self.generation += 1
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _fetch(self) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.get(self.url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise JwksError(f"{self.url} answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise JwksError(f"cannot fetch the key set from {self.url}: {type(exc).__name__}") from None


def parse_key_set(document: Any) -> dict[str, jwt.PyJWK]:
    """Signing keys by key id; keys for encryption, without an id, or of unknown types are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("the key set is not a JSON object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys
