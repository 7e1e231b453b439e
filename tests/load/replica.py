"""A throwaway streaming replica of a ThrowawayPostgres: ``pg_basebackup -R`` from the running
primary (wal_level=replica is PostgreSQL's default), then a hot standby on its own port."""

from __future__ import annotations

from load.pg import ThrowawayPostgres


class ThrowawayStandby(ThrowawayPostgres):
    """``start()``, ``stop()``, ``url``, ``close()``, like its primary."""

    def __init__(self, primary: ThrowawayPostgres) -> None:
        self.primary = primary
        super().__init__()

    def create(self) -> None:
        self._pg(
            "pg_basebackup",
            "-h", "127.0.0.1",
            "-p", str(self.primary.port),
            "-U", "postgres",
            "-D", str(self.data),
            "-R",  # standby.signal + primary_conninfo: it streams from the primary once started
            "-X", "stream",
            "-c", "fast",
        )  # fmt: skip
