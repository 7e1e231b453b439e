"""The large-body turns' series: how many requests with a large JSON body are being handled, and how
many wait for a turn (ENGINE_LARGE_BODIES_AT_ONCE)."""

from __future__ import annotations

from prometheus_client import Gauge

import engine.kernel.metrics  # noqa: F401  (prepares the multiprocess directory before any series exists)

LARGE_BODIES_HANDLED = Gauge(
    "engine_large_bodies_in_progress",
    "Requests with a large JSON body (over ENGINE_LARGE_BODY_BYTES) being parsed and handled now.",
    multiprocess_mode="livesum",
)
LARGE_BODIES_WAITING = Gauge(
    "engine_large_bodies_waiting",
    "Requests with a large JSON body waiting for a turn (ENGINE_LARGE_BODIES_AT_ONCE are handled at once).",
    multiprocess_mode="livesum",
)
