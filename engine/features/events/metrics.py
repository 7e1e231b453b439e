"""The outbox's series: events written but not yet dispatched, and how old the oldest is."""

from __future__ import annotations

from prometheus_client import Gauge

import engine.kernel.metrics  # noqa: F401  (prepares the multiprocess directory before any series exists)

EVENTS_OUTBOX_PENDING = Gauge(
    "engine_events_outbox_pending", "Events written but not yet dispatched.", multiprocess_mode="mostrecent"
)
EVENTS_OUTBOX_LAG = Gauge(
    "engine_events_outbox_lag_seconds",
    "Age of the oldest event not yet dispatched (0 when the outbox is empty).",
    multiprocess_mode="mostrecent",
)
