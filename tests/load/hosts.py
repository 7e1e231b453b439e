"""Engine hosts in network namespaces of their own: each a separate network stack, reached only
through a veth pair, like a machine on a LAN (`ip netns`, iproute2; needs root).

    host namespace            root namespace
    10.213.N.2  <-- veth -->  10.213.N.1   (PostgreSQL, Redis and the test client live here)

A host's engine reaches PostgreSQL and Redis at 10.213.N.1; the test reaches the engine at
10.213.N.2. Only addresses of namespaces the test made itself are used.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_DEADLINE_S = 90
PORT = 8000


def _ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=10)


def namespaces_work() -> str | None:
    """None when `ip netns` can make a namespace here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"re-probe-{os.getpid()}"
    try:
        _ip("netns", "add", name)
        _ip("netns", "del", name)
    except (OSError, subprocess.SubprocessError) as error:
        return f"`ip netns add` does not work here: {error}"
    return None


class Network:
    """Namespaces joined to the root namespace by one veth pair each; ``close()`` removes them."""

    def __init__(self) -> None:
        self.subnet = random.randint(1, 250)  # 10.213.<subnet + n>.0/30 per host: never two runs on one
        self.tag = f"{os.getpid() % 100000}"
        self.hosts: list[str] = []

    def add_host(self) -> tuple[str, str, str]:
        """A new namespace: (its name, its address, the root namespace's address on its link)."""
        n = len(self.hosts)
        name, veth = f"re-{self.tag}-{n}", f"re{self.tag}v{n}"
        outer, inner = f"10.213.{self.subnet + n}.1", f"10.213.{self.subnet + n}.2"
        _ip("netns", "add", name)
        self.hosts.append(name)
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        _ip("link", "set", f"{veth}p", "netns", name)
        _ip("addr", "add", f"{outer}/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("addr", "add", f"{inner}/30", "dev", f"{veth}p", namespace=name)
        _ip("link", "set", f"{veth}p", "up", namespace=name)
        _ip("link", "set", "lo", "up", namespace=name)
        return name, inner, outer

    @property
    def outer_addresses(self) -> list[str]:
        return [f"10.213.{self.subnet + n}.1" for n in range(len(self.hosts))]

    def close(self) -> None:
        for name in self.hosts:  # deleting a namespace deletes its end of the veth, and so the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self.hosts.clear()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


class Host:
    """`resource-engine serve` inside a namespace, listening on its address."""

    def __init__(
        self, namespace: str, address: str, spec_path: str, env: dict[str, str], workers: int = 1, port: int = PORT
    ):
        self.namespace, self.address, self.spec_path = namespace, address, spec_path
        self.base = f"http://{address}:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix="resource-engine-host-", suffix=".log", delete=False)
        argv = [sys.executable, "-m", "engine", "--spec", spec_path, "serve", "--host", address, "--port", str(port)]
        argv += ["--workers", str(workers)]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_") and k != "DATABASE_URL"}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv],
            env={**environment, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self) -> None:
        give_up = time.monotonic() + STARTUP_DEADLINE_S
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"the host exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            if _status(self.base + "/readyz") == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the host was not ready within {STARTUP_DEADLINE_S} s:\n{self.log_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole host (its master and workers): a machine that died."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        os.unlink(self.log.name)
