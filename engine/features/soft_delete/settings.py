"""Soft-delete settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, seconds

SETTINGS = (
    Setting(
        "ENGINE_SOFT_DELETE_PURGE_INTERVAL",
        seconds(),
        3600.0,
        "seconds between two background purges of the rows deleted longer ago than `soft_delete: {purge_after}` "
        "(`off`: only `resource-engine soft-delete purge`)",
        "retention",
    ),
)
