"""A throwaway PostgreSQL for fault tests: our own server in a temp directory on its own port.

Fault tests stop, crash and restart PostgreSQL, so they never touch the shared server that other
tests use. The binaries are the ones pgserver ships (a runtime dependency), so CI needs nothing
else; as root, the server runs as pgserver's unprivileged system user, like pgserver does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .ports import free_port


def _binaries() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class ThrowawayPostgres:
    """``start()``, ``stop(mode)``, ``restart(mode)``, ``url``; ``close()`` removes everything."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="engine-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.user: str | None = None
        self._run_kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb refuses to run as root
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            entry = ensure_user_exists(self.user)
            ensure_prefix_permissions(_binaries())
            ensure_folder_permissions(_binaries(), 0o055)
            ensure_folder_permissions(_binaries().parent / "lib", 0o044)
            os.chmod(self.directory, 0o755)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
            self._run_kwargs = {"user": self.user}
        self.create()

    def create(self) -> None:
        """The data directory: a new cluster (a standby copies its primary's instead, load/replica.py)."""
        self._pg("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=utf8", "--locale=C")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, program: str, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(_binaries() / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            **self._run_kwargs,
        )

    listen_addresses = "127.0.0.1"

    def trust(self, network: str) -> None:
        """Accept connections from `network` (a CIDR) too, without a password, like loopback."""
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {network} trust\n")

    def start(self) -> None:
        options = f"-h {self.listen_addresses} -p {self.port} -k {self.directory} -c fsync=on -c synchronous_commit=on"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clean shutdown, connections closed; ``immediate``: a crash, recovery on start."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
