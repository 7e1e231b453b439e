"""The client's address, believing X-Forwarded-For only when the direct peer is a trusted proxy.

Anyone can send X-Forwarded-For; trusting it from the open internet would let a client pick a
fresh address (and a fresh rate-limit bucket) for every request. Behind proxies we configured,
the client is the right-most address that is not one of our proxies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from engine.kernel.errors import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str], where: str) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigurationError(f"{where}: {entry!r} is not an IP address or network (10.0.0.0/8)") from None
    return tuple(networks)


class ClientAddress:
    def __init__(self, trusted: tuple[Network, ...] = ()):
        self.trusted = trusted

    def trusts(self, address: str | None) -> bool:
        """Whether `address` is one of our proxies (ENGINE_TRUSTED_PROXIES)."""
        return address is not None and self._trusts(address)

    def _trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def of(self, request: web.Request) -> str:
        peer = request.remote or "unknown"
        forwarded = request.headers.getall("X-Forwarded-For", ())
        if not self.trusted or not forwarded or not self._trusts(peer):
            return peer
        hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusts(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer
