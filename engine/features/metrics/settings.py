"""Who may read /metrics, declared for engine.kernel.settings."""

from __future__ import annotations

import ipaddress
from functools import partial
from typing import Any

from engine.kernel.settings import Kind, Setting, items, text

LOOPBACK = "127.0.0.0/8,::1/128"
ANY = "0.0.0.0/0,::/0"
_NETWORKS = items(partial(ipaddress.ip_network, strict=False))


def networks(value: Any) -> tuple[Any, ...]:
    """Comma-separated addresses or CIDRs; `*` is any network."""
    return _NETWORKS.convert(ANY if str(value).strip() == "*" else value)


SETTINGS = (
    Setting("ENGINE_METRICS_TOKEN", text(), None, "bearer token required to read `/metrics`", "operations"),
    Setting(
        "ENGINE_METRICS_ALLOW",
        Kind("be comma-separated addresses or CIDRs (10.0.0.0/8,127.0.0.1), or *", networks, keep_empty=True),
        (),
        "comma-separated addresses or CIDRs allowed to read `/metrics`; `*` for any",
        "operations",
        shown="loopback only; any network when a token is set",
    ),
)
