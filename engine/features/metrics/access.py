"""Who may read ``GET /metrics``: a bearer token (ENGINE_METRICS_TOKEN) and/or networks (ENGINE_METRICS_ALLOW).

- Neither set: loopback only (127.0.0.1, ::1), so a scraper on the same host or in a sidecar works
  and the internet does not.
- Token set: every scrape must send ``Authorization: Bearer <token>``; any network unless
  ENGINE_METRICS_ALLOW is also set, then both must hold.
- ENGINE_METRICS_ALLOW: comma-separated addresses or CIDRs (``10.0.0.0/8, 192.168.1.5``); ``*`` for any.
  It is checked against the peer address: behind a proxy that is the proxy's.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.features.metrics.settings import ANY, LOOPBACK, networks
from engine.kernel import settings as registry
from engine.kernel.errors import Forbidden, Unauthorized

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class MetricsAccess:
    token: str | None
    networks: tuple[Network, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MetricsAccess:
        """From the raw ENGINE_* variables (engine.features.metrics.settings declares them)."""

        def read(name: str) -> Any:
            return registry.value(name, env)

        token = read("ENGINE_METRICS_TOKEN")
        return cls(token, read("ENGINE_METRICS_ALLOW") or networks(ANY if token else LOOPBACK))

    def check(self, request: web.Request) -> None:
        """Raise 403 for a peer outside the networks, 401 for a missing or wrong token."""
        if not self._peer_allowed(request.remote):
            raise Forbidden(f"/metrics is not served to {request.remote}; see ENGINE_METRICS_ALLOW")
        self.check_token(request)

    def check_token(self, request: web.Request) -> None:
        if self.token is not None:
            sent = request.headers.get("Authorization", "")
            scheme, _, credential = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip(), self.token):
                raise Unauthorized(
                    "/metrics needs the bearer token in ENGINE_METRICS_TOKEN",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )

    def _peer_allowed(self, remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:  # a Unix socket has no address: only a local process can reach it
            return remote is not None or any(n.prefixlen == 0 for n in self.networks)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
