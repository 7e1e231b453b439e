"""A throwaway PgBouncer in transaction pooling mode, for running suites through a pooler.

Debian's pgbouncer (`.ci/install-test-deps` installs it). One process serves the whole session;
each test adds a database alias (`add`) that points at its server and sets the test's schema with
`connect_query`: PgBouncer passes no `search_path` from the client, so, as with `ALTER ROLE ... SET`
in production, the server side sets it. `RELOAD` on the admin console picks up a new alias.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .ports import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
RUN_AS = "postgres"  # pgbouncer refuses to run as root


def server_address(server_url: str) -> tuple[str, int]:
    """Host (or Unix socket directory) and port of `server_url`: the embedded PostgreSQL's URL
    names its socket directory in the query (``postgresql://postgres:@/postgres?host=/tmp/...``)."""
    parts = urlsplit(server_url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["/var/run/postgresql"])[0]
    return host, parts.port or 5432


def run_as_for(server_url: str) -> str:
    """The user pgbouncer runs as when started by root: a socket directory's owner (the embedded
    PostgreSQL keeps its socket in its 0700 data directory, which only that user can enter)."""
    host, _ = server_address(server_url)
    if host.startswith("/"):
        return pwd.getpwuid(os.stat(host).st_uid).pw_name
    return RUN_AS


def available() -> bool:
    return os.path.exists(BINARY)


CONFIG = """[databases]
%include {aliases}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
admin_users = postgres
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
server_idle_timeout = 5
server_login_retry = 1
server_connect_timeout = 5
logfile = {log}
pidfile = {pid}
"""


class ThrowawayPgBouncer:
    """``start()``, ``add(alias, server_url, schema)``, ``url(alias)``, ``close()``."""

    def __init__(self, run_as: str = RUN_AS) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="engine-pgbouncer-"))
        self.port = free_port()
        self.aliases = self.directory / "aliases.ini"
        self.aliases.write_text("")
        (self.directory / "users.txt").write_text('"postgres" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            CONFIG.format(
                aliases=self.aliases,
                port=self.port,
                users=self.directory / "users.txt",
                log=self.directory / "pgbouncer.log",
                pid=self.directory / "pgbouncer.pid",
            )
        )
        self._user = [] if os.geteuid() != 0 else ["-u", run_as]
        if os.geteuid() == 0:
            entry = pwd.getpwnam(run_as)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen | None = None

    def url(self, alias: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{alias}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [BINARY, *self._user, str(self.directory / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add(self, alias: str, server_url: str, schema: str | None = None, pool_size: int | None = None) -> str:
        """An alias for `server_url` whose server connections use `schema`; returns its URL."""
        host, port = server_address(server_url)
        database = urlsplit(server_url).path.lstrip("/") or "postgres"
        line = f"{alias} = host={host} port={port} dbname={database}"
        if pool_size:
            line += f" pool_size={pool_size}"
        if schema:
            line += f" connect_query='SET search_path TO {schema}'"
        with self.aliases.open("a") as aliases:
            aliases.write(line + "\n")
        self.admin("RELOAD")
        return self.url(alias)

    def remove(self, alias: str) -> None:
        """Close the alias's server connections now (the shared server has few to spare), then drop it."""
        self.admin(f"KILL {alias}")
        lines = self.aliases.read_text().splitlines(keepends=True)
        self.aliases.write_text("".join(line for line in lines if not line.startswith(f"{alias} = ")))
        self.admin("RELOAD")

    def admin(self, command: str) -> None:
        """A command on the admin console (RELOAD, PAUSE ...): psql, as it takes only simple queries."""
        subprocess.run(
            ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "pgbouncer", "-c", command],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=10,
        )

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class PgBouncers:
    """The session's pgbouncers, started on first use: one per user they must run as, because a
    server reached by its Unix socket (the embedded PostgreSQL) can only be reached by the socket
    directory's owner when the tests run as root, while a module's own throwaway server may be on TCP."""

    def __init__(self) -> None:
        self._by_user: dict[str, ThrowawayPgBouncer] = {}
        self._of_alias: dict[str, ThrowawayPgBouncer] = {}

    def add(self, alias: str, server_url: str, schema: str | None = None, pool_size: int | None = None) -> str:
        user = run_as_for(server_url) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        bouncer = self._by_user.get(user)
        if bouncer is None:
            bouncer = self._by_user[user] = ThrowawayPgBouncer(run_as=user)
            bouncer.start()
        self._of_alias[alias] = bouncer
        return bouncer.add(alias, server_url, schema, pool_size)

    def remove(self, alias: str) -> None:
        self._of_alias.pop(alias).remove(alias)

    def close(self) -> None:
        for bouncer in self._by_user.values():
            bouncer.close()
