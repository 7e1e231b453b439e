"""A throwaway redis-server on its own port, for tests that stop it (never the shared Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

from .ports import free_port


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="engine-faults-redis-")
        self.process: subprocess.Popen | None = None
        self.bind = ["127.0.0.1"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", *self.bind, "--save", "", "--dir", self.directory]
        if self.bind != ["127.0.0.1"]:
            argv += ["--protected-mode", "no"]  # test hosts in network namespaces reach it over their veth
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
