"""Rate-limit settings, declared for engine.kernel.settings."""

from __future__ import annotations

import ipaddress
from functools import partial

from engine.features.rate_limit.rates import parse_rate
from engine.kernel.settings import Kind, Setting, choice, items

RATE = Kind("look like 100/minute (per second, minute, hour or day) or 'off'", partial(parse_rate, where="rate"))
NETWORKS = items(
    partial(ipaddress.ip_network, strict=False), "be comma-separated IP addresses or networks (10.0.0.0/8)"
)

SETTINGS = (
    Setting(
        "ENGINE_AUTH_FAILURE_LIMIT",
        RATE,
        parse_rate("30/minute", "default"),
        "failed authentication attempts per client address (format of `ENGINE_RATE_LIMIT`, `off` disables); "
        "beyond it 429 with Retry-After and the RateLimit headers",
        "protection",
        shown="`30/minute`",
    ),
    Setting(
        "ENGINE_RATE_LIMIT",
        RATE,
        parse_rate("1000/minute", "default"),
        "global rate per caller: `N/second`, `N/minute`, `N/hour`, `N/day`, or `off`; per-resource rates in "
        "resources.yaml",
        "protection",
        shown="`1000/minute`",
        yaml="settings.rate_limit",
    ),
    Setting(
        "ENGINE_RATE_LIMIT_FAIL",
        choice("open", "closed", case=str.lower),
        "open",
        "when Redis fails: `open` lets requests through, `closed` answers 503",
        "protection",
    ),
    Setting(
        "ENGINE_TRUSTED_PROXIES",
        NETWORKS,
        (),
        "comma-separated proxy addresses or networks (`10.0.0.0/8`) whose `X-Forwarded-For` is believed",
        "protection",
        shown="none",
    ),
)
