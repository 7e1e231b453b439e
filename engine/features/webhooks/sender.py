"""One delivery attempt: a signed POST (Standard Webhooks) to a public address, bounded in every way.

- Signed with the ``standardwebhooks`` library: ``webhook-id`` (the delivery's id, the same on every
  attempt and replay, so receivers can drop duplicates), ``webhook-timestamp`` (the attempt's Unix
  time) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` with the
  endpoint's ``whsec_`` secret).
- Only to public addresses: private, loopback, link-local, multicast and reserved addresses are
  refused, for IP literals before connecting and for host names in the resolver (so the address
  checked is the address connected to), unless ENGINE_WEBHOOK_ALLOW_HOSTS names the host or address.
- No redirects (a 3xx is a failed attempt), a total timeout (an answer whose body is still coming
  when it ends is a failed attempt), and at most ENGINE_WEBHOOK_MAX_RESPONSE bytes of the answer
  read: a longer body is cut off there and its connection dropped.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from standardwebhooks import Webhook

USER_AGENT = "resource-engine-webhooks/1"


class RefusedTarget(OSError):
    """The URL leads to an address deliveries may not reach."""


def public(address: str) -> bool:
    """Whether `address` (an IP literal) is on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def literal(host: str) -> str | None:
    """The host as an IP address when it is one (``[::1]`` included), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then keeps only public addresses (or every address of an allowed host)."""

    def __init__(self, allowed: frozenset[str]):
        self.allowed = allowed
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if host.lower() in self.allowed:
            return found
        kept = [entry for entry in found if entry["host"] in self.allowed or public(entry["host"])]
        if not kept:
            raise RefusedTarget(f"{host} resolves only to private, loopback or link-local addresses")
        return kept

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the receiver's HTTP status, None when there was no answer
    error: str | None  # why the attempt failed (never the body or the secret)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


class Sender:
    """The worker's HTTP client for deliveries (one connection pool, the guarded resolver)."""

    def __init__(self, allowed: tuple[str, ...], timeout: float, max_response: int):
        self.allowed = frozenset(host.lower() for host in allowed)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_response = max_response
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allowed), limit=100)
            self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, trust_env=False)
        return self.session

    def check(self, url: str) -> None:
        """Refuse an IP-literal target that is not public (host names are checked when resolved)."""
        host = (urlsplit(url).hostname or "").lower()
        address = literal(host)
        if address is not None and address not in self.allowed and host not in self.allowed and not public(address):
            raise RefusedTarget(f"{address} is a private, loopback or link-local address")

    async def send(self, url: str, secret: str, message_id: str, body: str) -> Outcome:
        now = datetime.now(UTC)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, now, body),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        status = None
        try:
            self.check(url)
            async with self._session().post(url, data=body.encode(), headers=headers, allow_redirects=False) as answer:
                status = answer.status
                await self._drain(answer)
        except TimeoutError:
            if status is not None:
                return Outcome(status, f"answered {status}, but the body did not end within {self.timeout.total:g} s")
            return Outcome(None, f"no answer within {self.timeout.total:g} s")
        except RefusedTarget as exc:
            return Outcome(None, f"refused: {exc}")
        except aiohttp.ClientConnectorError as exc:  # the resolver's refusal arrives wrapped
            refused = isinstance(exc.__cause__, RefusedTarget) or isinstance(exc.os_error, RefusedTarget)
            return Outcome(None, f"refused: {exc.__cause__ or exc.os_error}" if refused else _describe(exc))
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(None, _describe(exc))
        if 300 <= status < 400:
            return Outcome(status, f"answered {status}: redirects are not followed")
        return Outcome(status, None if 200 <= status < 300 else f"answered {status}")

    async def _drain(self, answer: aiohttp.ClientResponse) -> None:
        """Read the body to its end or to the cap, whichever comes first (the timeout still runs); past
        the cap, leaving the block drops the connection instead of reading on."""
        left = self.max_response
        while left > 0:
            chunk = await answer.content.read(left)
            if not chunk:
                return
            left -= len(chunk)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:300] + "..."
