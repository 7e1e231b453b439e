"""Settings of counts and aggregates, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, integer, seconds

SETTINGS = (
    Setting(
        "ENGINE_COUNT_EXACT_BELOW",
        integer(minimum=0),
        10_000,
        "`count=estimated` counts exactly up to this many rows, and gives PostgreSQL's planner estimate above it",
        "protection",
    ),
    Setting(
        "ENGINE_AGGREGATE_MAX_GROUPS",
        integer(minimum=1),
        1000,
        "most groups one `group_by` request may return; more is a 400 asking for filters or coarser groups",
        "protection",
    ),
    Setting(
        "ENGINE_AGGREGATE_TIMEOUT",
        seconds(),
        5.0,
        "statement deadline in seconds of a count or an aggregate (`off` for none; the request deadline "
        "still applies); past it: 503 naming it",
        "protection",
    ),
)
