"""Webhook settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, duration, integer, items, number

SETTINGS = (
    Setting(
        "ENGINE_WEBHOOK_RETRY_BACKOFF",
        number(above=0),
        5.0,
        "seconds before a failed delivery's first retry; doubles each retry (at most an hour), with jitter",
        "webhooks",
    ),
    Setting(
        "ENGINE_WEBHOOK_RETRY_PERIOD",
        duration(),
        3 * 86400,
        "how long a delivery is retried before it is marked failed (dead letter)",
        "webhooks",
        shown="`3d`",
    ),
    Setting(
        "ENGINE_WEBHOOK_DISABLE_AFTER",
        integer(minimum=1),
        50,
        "consecutive failed attempts after which an endpoint is disabled (logged, counted in a metric)",
        "webhooks",
    ),
    Setting("ENGINE_WEBHOOK_TIMEOUT", number(above=0), 10.0, "seconds one delivery attempt may take", "webhooks"),
    Setting(
        "ENGINE_WEBHOOK_MAX_RESPONSE",
        integer(minimum=0),
        65536,
        "bytes of a receiver's response body read at most (the rest is dropped)",
        "webhooks",
    ),
    Setting(
        "ENGINE_WEBHOOK_ALLOW_HOSTS",
        items(),
        (),
        "host names or IP addresses that deliveries may reach although they are private, loopback or "
        "link-local (comma-separated)",
        "webhooks",
        shown="none",
    ),
    Setting(
        "ENGINE_WEBHOOK_POLL_INTERVAL",
        number(above=0),
        1.0,
        "seconds between looks for due deliveries in each worker",
        "webhooks",
    ),
    Setting(
        "ENGINE_WEBHOOK_CONCURRENCY",
        integer(minimum=1),
        8,
        "deliveries in flight at once per worker process",
        "webhooks",
    ),
)
