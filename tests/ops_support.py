"""Helpers for the operations tests: the real CLI as a gunicorn cluster, and a PostgreSQL of our own.

Both are real processes. `Cluster` runs `resource-engine serve --workers N` against the test
database; `ThrowawayPostgres` is a PostgreSQL cluster in a temporary directory on its own port,
built with the binaries pgserver ships, so a test may stop and start it without touching the
server the other tests share.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from load.ports import free_port

from engine.features.metrics.processes import cluster_pids

STARTUP_DEADLINE = 60.0  # seconds: generous, the machine is shared


def wait_for(condition: Callable[[], object], what: str, deadline: float = STARTUP_DEADLINE) -> object:
    """Poll `condition` until it returns something truthy; fail with `what` after `deadline` seconds."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Cluster:
    """`resource-engine serve --workers N` in a subprocess; `stop()` sends SIGTERM and waits."""

    def __init__(self, spec_path: str, env: dict[str, str], workers: int = 2, extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.output = tempfile.NamedTemporaryFile(prefix="resource-engine-cluster-", suffix=".log", delete=False)
        argv = [
            sys.executable,
            "-m",
            "engine",
            "--spec",
            spec_path,
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            *extra_args,
        ]
        environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.process = subprocess.Popen(
            argv, env={**environment, **env}, stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return Path(self.output.name).read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        return cluster_pids(self.pid)[1:]

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the cluster exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                return get(self.base + "/readyz", timeout=2)[0] == 200 and len(self.worker_pids()) == self.workers
            except OSError:
                return False

        wait_for(ready, f"the cluster on port {self.port} to be ready")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.output.closed:
            self.output.close()
            os.unlink(self.output.name)
        return self.process.returncode


def _pg_binaries() -> Path:
    import pgserver  # noqa: F401  (the package ships PostgreSQL's binaries)
    from pgserver._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


class ThrowawayPostgres:
    """A private PostgreSQL cluster: initdb in a temporary directory, its own port, stop/start at will.

    PostgreSQL refuses to run as root; as root the server runs as pgserver's `pgserver` user.
    """

    def __init__(self) -> None:
        self.bin = _pg_binaries()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="resource-engine-pg-"))
        self.data = self.directory / "data"
        self.user = None
        if os.geteuid() == 0:
            import stat

            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            entry = ensure_user_exists("pgserver")
            self.user = entry.pw_name
            ensure_prefix_permissions(self.bin)  # what pgserver itself does before running as that user
            ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
            conf.write("fsync = off\nshared_buffers = 16MB\n")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args], check=True, capture_output=True, user=self.user, cwd=self.directory
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.directory, ignore_errors=True)
