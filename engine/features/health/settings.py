"""Readiness settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, number

SETTINGS = (
    Setting(
        "ENGINE_READYZ_TIMEOUT",
        number(above=0),
        2.0,
        "seconds `/readyz` waits for the database before answering 503",
        "operations",
    ),
)
