"""Verified access tokens, remembered per process so a token is verified once, not on every request.

Keyed by the SHA-256 of the whole token (header, claims and signature): a token altered in any
byte, or forged with the same claims, has another key and is verified from scratch, and the
bearer credentials themselves are not kept in memory. An entry holds the identity and the
token's `exp`, and is served only while `now < exp + leeway`, the very bound PyJWT applies; an
entry also remembers the generation of the verification keys it was checked with, so a JWKS
refresh that withdraws a key drops every token verified with the old set. Revocations that are not
a property of the token (a deleted user) are checked after authentication on every request, hit or
miss (engine.features.accounts). Bounded: least recently used out first.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from engine.kernel.identity import Identity

DEFAULT_SIZE = 10_000


class VerifiedTokens:
    def __init__(self, leeway: float, size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.time):
        self.leeway, self.size, self.clock = leeway, size, clock
        self._entries: OrderedDict[bytes, tuple[Identity, float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes, generation: int) -> Identity | None:
        """The identity of a token verified before with the same keys and not yet expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        identity, expires, verified_with = entry
        if verified_with != generation or self.clock() >= expires + self.leeway:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return identity

    def put(self, key: bytes, identity: Identity, expires: float, generation: int) -> None:
        self._entries[key] = (identity, expires, generation)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
