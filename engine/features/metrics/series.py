"""The metrics feature's own series: requests by route and status, and their latency."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from engine.kernel.metrics import LATENCY_BUCKETS

HTTP_REQUESTS = Counter(
    "engine_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "engine_http_request_duration_seconds",
    "Time from the request reaching the engine to its response being ready.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
