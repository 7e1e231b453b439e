"""Built-in Prometheus metrics: ``GET /metrics``, request counts and latencies, pool and outbox gauges."""
