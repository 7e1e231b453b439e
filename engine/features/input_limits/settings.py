"""JSON body limits, declared for engine.kernel.settings (the body size is the core's ENGINE_BODY_LIMIT),
and how many large bodies a process works on at once."""

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
    Setting(
        "ENGINE_LARGE_BODY_BYTES",
        integer(minimum=1),
        65536,
        "a JSON body above this many bytes is large (a bulk write, a batch): see ENGINE_LARGE_BODIES_AT_ONCE",
        "protection",
    ),
    Setting(
        "ENGINE_LARGE_BODIES_AT_ONCE",
        integer(minimum=0),
        2,
        "most requests with a large JSON body a process parses and handles at once; the others wait their turn "
        "within their deadline (bounds the memory of concurrent bulk writes; 0: no bound)",
        "protection",
    ),
)
