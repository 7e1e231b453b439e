"""JSON body limits, declared for engine.kernel.settings (the body size is the core's ENGINE_BODY_LIMIT)."""

from __future__ import annotations

from engine.kernel.settings import Setting, integer

SETTINGS = (
    Setting(
        "ENGINE_MAX_JSON_DEPTH",
        integer(minimum=1),
        32,
        "deepest nesting of objects and arrays in a JSON body (the body itself is level 1); deeper: 422",
        "protection",
    ),
    Setting(
        "ENGINE_MAX_ARRAY_ITEMS",
        integer(minimum=1),
        1000,
        "longest array anywhere in a JSON body but the body itself (bulk items: ENGINE_MAX_BATCH_ITEMS); longer: 422",
        "protection",
    ),
)
