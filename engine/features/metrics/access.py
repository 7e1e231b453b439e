"""Who may read ``GET /metrics``: a bearer token (ENGINE_METRICS_TOKEN) and/or networks (ENGINE_METRICS_ALLOW).

- Neither set: loopback only (127.0.0.1, ::1), so a scraper on the same host or in a sidecar works
  and the internet does not.
- Token set: every scrape must send ``Authorization: Bearer <token>``; any network unless
  ENGINE_METRICS_ALLOW is also set, then both must hold.
- ENGINE_METRICS_ALLOW: comma-separated addresses or CIDRs (``10.0.0.0/8, 192.168.1.5``); ``*`` for any.

The address checked is the peer's, except through a proxy: from a peer in ENGINE_TRUSTED_PROXIES
it is the forwarded client address (X-Forwarded-For, as for rate limits), so a reverse proxy on the
same host does not make every internet client "loopback". A request that carries forwarding
headers (X-Forwarded-For, Forwarded, X-Real-IP) from a peer that is not a trusted proxy came
through a proxy we know nothing about: its client is unknown and only a `*` allow list admits it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from engine.features.metrics.settings import ANY, LOOPBACK, networks
from engine.http.client_ip import ClientAddress
from engine.kernel import settings as registry
from engine.kernel.errors import Forbidden, Unauthorized

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
UNKNOWN = "an unknown client behind an untrusted proxy"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class MetricsAccess:
    token: str | None
    networks: tuple[Network, ...]
    proxies: ClientAddress = field(default_factory=ClientAddress)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MetricsAccess:
        """From the raw ENGINE_* variables (engine.features.metrics.settings declares them)."""

        def read(name: str) -> Any:
            return registry.value(name, env)

        token = read("ENGINE_METRICS_TOKEN")
        allowed = read("ENGINE_METRICS_ALLOW") or networks(ANY if token else LOOPBACK)
        return cls(token, allowed, ClientAddress(tuple(read("ENGINE_TRUSTED_PROXIES") or ())))

    def check(self, request: web.Request) -> None:
        """Raise 403 for a client outside the networks, 401 for a missing or wrong token."""
        client, forwarded = self.client_of(request)
        if not self._allowed(client, forwarded=forwarded):
            raise Forbidden(f"/metrics is not served to {str(client)[:80]}; see ENGINE_METRICS_ALLOW")
        self.check_token(request)

    def client_of(self, request: web.Request) -> tuple[str | None, bool]:
        """(address, came through a proxy): the peer, the forwarded client behind a trusted proxy,
        or UNKNOWN behind a proxy we do not trust."""
        if self.proxies.trusts(request.remote) and "X-Forwarded-For" in request.headers:
            return self.proxies.of(request), True
        if any(header in request.headers for header in FORWARDING_HEADERS):
            return UNKNOWN, True
        return request.remote, False

    def check_token(self, request: web.Request) -> None:
        if self.token is not None:
            sent = request.headers.get("Authorization", "")
            scheme, _, credential = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip(), self.token):
                raise Unauthorized(
                    "/metrics needs the bearer token in ENGINE_METRICS_TOKEN",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )

    def _allowed(self, client: str | None, *, forwarded: bool) -> bool:
        try:
            address = ipaddress.ip_address(client or "")
        except ValueError:  # a Unix socket has no address: only a local process can reach it
            unix_socket = client is not None and not forwarded
            return unix_socket or any(n.prefixlen == 0 for n in self.networks)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
