"""One shared object per key for small immutable values a process would otherwise keep thousands of
copies of (a caller's id as a statement's only value, a token's role set)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class Interned:
    """`interned(key, value)`: the object kept for `key`, or `value`, kept from now on. Bounded: when
    `limit` keys are kept, all are forgotten at once (the next calls keep their own again)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[Hashable, Any] = {}

    def __call__(self, key: Hashable, value: Any) -> Any:
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            kept = self._kept[key] = value
        return kept
