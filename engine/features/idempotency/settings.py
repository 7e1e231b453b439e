"""Idempotency-key settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, seconds

SETTINGS = (
    Setting(
        "ENGINE_IDEMPOTENCY_TTL",
        seconds(),
        24 * 3600.0,
        "seconds an `Idempotency-Key` and its response are kept (`off`: the default)",
        "protection",
    ),
)
