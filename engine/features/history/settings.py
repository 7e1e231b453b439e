"""History settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, seconds

SETTINGS = (
    Setting(
        "ENGINE_HISTORY_PRUNE_INTERVAL",
        seconds(),
        3600.0,
        "seconds between two background prunes of the versions `history: {keep, max_age}` no longer keeps "
        "(`off`: only `resource-engine history prune`)",
        "retention",
    ),
)
