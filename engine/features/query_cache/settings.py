"""Query-cache settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, integer

SETTINGS = (
    Setting(
        "ENGINE_CACHE_MAX_BYTES",
        integer(minimum=1024),
        64 * 1024 * 1024,
        "size bound in bytes of the in-process cache, per worker (least recently used out first)",
        "protection",
    ),
)
