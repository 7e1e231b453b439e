"""Limits of the writes of many rows (engine.http.bulk) and of the atomic batch, for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, integer

SETTINGS = (
    Setting(
        "ENGINE_MAX_BATCH_ITEMS",
        integer(minimum=1),
        1000,
        "most items of a bulk create or upsert, and most rows a bulk update or delete may change; more: 413",
        "protection",
    ),
)
