"""`resource-engine serve` in a subprocess: the real CLI, one process or a gunicorn cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from engine.features.metrics.processes import cluster_pids

from .ports import free_port

STARTUP_DEADLINE_S = 90


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


class Server:
    """Start with ``Server(spec, env, workers)``; ``base`` is its URL; ``stop()`` sends SIGTERM."""

    def __init__(self, spec_path: str, env: dict[str, str], workers: int | None = 2):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="resource-engine-load-", suffix=".log", delete=False)
        argv = [sys.executable, "-m", "engine", "--spec", spec_path, "serve", "--port", str(self.port)]
        if workers:
            argv += ["--workers", str(workers)]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_") and k != "DATABASE_URL"}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process = subprocess.Popen(
            argv, env={**environment, **env}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.workers = workers or 0
        self.workers_seen: set[int] = set()  # every worker pid seen: a recycle replaces one
        if workers:
            threading.Thread(target=self._watch_workers, daemon=True).start()

    def _watch_workers(self) -> None:
        while self.process.poll() is None:
            self.workers_seen.update(cluster_pids(self.process.pid)[1:])
            time.sleep(0.1)

    def recycles(self) -> int:
        """How many workers were replaced (by max_requests, or by a crash) while the server ran."""
        return max(0, len(self.workers_seen) - self.workers)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self) -> None:
        give_up = time.monotonic() + STARTUP_DEADLINE_S
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            if _status(self.base + "/readyz") == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {STARTUP_DEADLINE_S} s:\n{self.log_text()[-4000:]}")

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        os.unlink(self.log.name)
        return self.process.returncode
