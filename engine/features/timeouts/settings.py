"""Deadline settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, seconds

SETTINGS = (
    Setting(
        "ENGINE_REQUEST_TIMEOUT",
        seconds(),
        30.0,
        "deadline of a request in seconds (`off` for none); past it: 504, handler and query cancelled",
        "protection",
    ),
    Setting(
        "ENGINE_POOL_TIMEOUT",
        seconds(),
        5.0,
        "longest wait for a free database connection in seconds (`off` for none); past it: 503 with `Retry-After: 1`",
        "protection",
    ),
)
