"""`resource-engine serve --reload`: restart on changes, and never trade a good app for a broken one.

This process only supervises: it watches the project (resources.yaml, schemas, plugins, migrations)
with watchfiles and runs the server as a child process. On a change it first runs
`resource-engine check` in a fresh interpreter; if that fails it prints the errors and the running
app keeps serving. If the check passes it starts a new child beside the old one (both listen with
SO_REUSEPORT), waits until the new one is listening, and only then stops the old one. A new child
that fails to start (a plugin's `configure` refusing a setting, say) is reported the same way, and
the old one keeps serving. No project code is ever imported here.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.cli.output import Printer

WATCHED_SUFFIXES = (".yaml", ".yml", ".json", ".py", ".sql")
IGNORED_DIRS = {".pgdata", ".engine", ".git", ".venv", "venv", "__pycache__", "node_modules", ".pytest_cache"}
START_TIMEOUT = 120.0  # seconds a new child may take to open the database and listen
STOP_TIMEOUT = 35.0


def ready_notifier(fd: int | None) -> Callable[[str], None] | None:
    """For the child: `web.run_app(print=...)` calls this once the socket listens."""
    if fd is None:
        return None

    def notify(_message: str) -> None:
        try:
            os.write(fd, b"ready\n")
        finally:
            os.close(fd)

    return notify


def watched(change: object, path: str) -> bool:
    """watchfiles filter: project files that can change the app, outside data and cache folders."""
    parts = Path(path).parts
    return path.endswith(WATCHED_SUFFIXES) and not any(part in IGNORED_DIRS for part in parts)


@dataclass
class Child:
    process: subprocess.Popen
    ready_fd: int

    def wait_ready(self, timeout: float) -> bool:
        """True once the child listens; False if it exits (or stays silent) first."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                readable, _, _ = select.select([self.ready_fd], [], [], 0.2)
                if readable:
                    return os.read(self.ready_fd, 16).startswith(b"ready")
                if self.process.poll() is not None:
                    return False
            return False
        finally:
            os.close(self.ready_fd)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # aiohttp drains in-flight requests, then exits
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Supervisor:
    def __init__(self, args: argparse.Namespace, out: Printer):
        self.args = args
        self.out = out
        self.spec_path = os.path.abspath(args.spec)
        self.root = os.path.dirname(self.spec_path)
        self.child: Child | None = None

    def _engine(self, *command: str) -> list[str]:
        return [sys.executable, "-m", "engine", "--spec", self.spec_path, *command]

    def check(self) -> bool:
        result = subprocess.run(self._engine("check"), capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return True
        for line in (result.stderr or result.stdout).splitlines():
            self.out.error(line)
        return False

    def _serve_argv(self, ready_fd: int) -> list[str]:
        argv = ["serve", "--ready-fd", str(ready_fd)]
        for option in ("host", "port", "log_file", "graceful_timeout"):
            value = getattr(self.args, option, None)
            if value is not None:
                argv += [f"--{option.replace('_', '-')}", str(value)]
        return self._engine(*argv)

    def start(self) -> Child | None:
        read_fd, write_fd = os.pipe()
        try:
            process = subprocess.Popen(self._serve_argv(write_fd), pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        child = Child(process, read_fd)
        if child.wait_ready(START_TIMEOUT):
            return child
        child.stop()
        return None

    def reload(self, reason: str) -> None:
        self.out.info(f"{reason}: checking the project")
        if not self.check():
            kept = "the last good app keeps serving" if self.child else "nothing is serving yet"
            self.out.warn(f"not reloaded: fix the problems above ({kept})")
            return
        new = self.start()
        if new is None:
            kept = "the last good app keeps serving" if self.child else "nothing is serving yet"
            self.out.error(f"the new app did not start (see its output above); {kept}")
            return
        old, self.child = self.child, new
        if old is not None:
            old.stop()
        self.out.ok("reloaded: serving the new app" if old is not None else "serving; watching for changes")

    def watch(self) -> None:
        """Start the app once the watcher runs (so an edit made while it starts is not missed)."""
        from watchfiles import watch

        started = False
        for changes in watch(self.root, watch_filter=watched, yield_on_timeout=True, rust_timeout=500):
            if not started:
                started = True
                self.reload("starting")
                continue  # anything changed before this point is already in the started app
            if self.child is not None and self.child.process.poll() is not None:
                self.out.error("the app exited; it restarts on the next change")
                self.child = None
            if changes:
                names = sorted({os.path.relpath(path, self.root) for _, path in changes})
                self.reload(", ".join(names[:3]) + (" ..." if len(names) > 3 else "") + " changed")

    def run(self) -> int:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self.watch()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if self.child is not None:
                self.child.stop()
        return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_with_reload(args: argparse.Namespace, out: Printer) -> int:
    if getattr(args, "workers", None) is not None:
        out.error("--reload runs one process; leave out --workers")
        return 2
    out.info(f"watching {os.path.dirname(os.path.abspath(args.spec))} (resources.yaml, schemas, plugins, migrations)")
    return Supervisor(args, out).run()
