"""The webhook series: attempts by outcome, and endpoints disabled for failing."""

from __future__ import annotations

from prometheus_client import Counter

import engine.kernel.metrics  # noqa: F401  (prepares the multiprocess directory before any series exists)

WEBHOOK_ATTEMPTS = Counter(
    "engine_webhook_attempts_total",
    "Webhook delivery attempts, by outcome: succeeded, retried (failed, tried again later), failed (dead letter).",
    ["outcome"],
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "engine_webhook_endpoints_disabled_total", "Webhook endpoints disabled after repeated failed attempts."
)
