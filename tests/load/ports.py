"""Ports for the servers tests start: below the kernel's ephemeral range, a slice per xdist worker.

A port found by binding port 0 comes from the ephemeral range. Once that socket closes, the kernel
may hand the same port to any outgoing connection (a pool's connection to PostgreSQL, a client's to
Redis) or to the other worker's next bind to port 0, before the server started with it binds: the
server then fails with "address already in use" (seen in CI with two workers). Ports below the
range are never handed out implicitly, and each worker draws from its own slice in turn, so a port
is only taken by a listener that already holds it, which the bind check here sees.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

LOWEST = 10000  # below: well-known and registered services a developer's machine may run


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def worker_ports() -> range:
    """This process's slice of the ports below the ephemeral range."""
    high = _ephemeral_start()
    low = LOWEST if high - LOWEST >= 2000 else 1024
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % count
    width = (high - low) // count
    return range(low + index * width, low + (index + 1) * width)


_SLICE = worker_ports()
_START = random.randrange(len(_SLICE))  # two runs on one machine rarely start at the same port
_PORTS = itertools.cycle([*_SLICE[_START:], *_SLICE[:_START]])


def free_port() -> int:
    """The next port of this worker's slice that nothing listens on (127.0.0.1 and the wildcard)."""
    for _ in range(len(_SLICE)):
        port = next(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_SLICE}")
