"""Apply migration files: in order, one transaction each, checksummed, under an advisory lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from sqlglot import exp

from engine.migrations.files import MigrationFile, read_all
from engine.sql import ddl

BOOKKEEPING = "_engine_migrations"
# Any constant works; it only has to be the same in every process applying migrations.
ADVISORY_LOCK_KEY = 0x5E50_0C3E


class MigrationError(Exception):
    """A problem an operator must fix by hand; the message says how."""


@dataclass(frozen=True)
class Status:
    applied: list[tuple[str, str]]  # (name, applied_at)
    pending: list[MigrationFile]
    unknown: tuple[str, ...] = ()  # applied here, absent from the directory: a newer version migrated it

    def unknown_warning(self) -> str | None:
        if not self.unknown:
            return None
        return (
            f"the database has {len(self.unknown)} applied migration(s) this project's migrations/ does not hold "
            f"({', '.join(self.unknown)}): a newer version of the project migrated it, or a file was renamed or "
            "deleted after it was applied; this version's API may not match its tables"
        )


def _bookkeeping_ddl() -> str:
    create = ddl.create_table(
        {
            "table": BOOKKEEPING,
            "columns": {
                "name": {"type": "text", "nullable": False},
                "checksum": {"type": "text", "nullable": False},
                "applied_at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
                "duration_ms": {"type": "double precision", "nullable": False},
            },
            "primary_key": "name",
            "checks": {},
            "unique": {},
            "foreign_keys": {},
        }
    )
    create.set("exists", True)
    return ddl.render(create)


_SELECT_APPLIED = ddl.render(
    exp.select(ddl.column("name"), ddl.column("checksum"), ddl.column("applied_at"))
    .from_(ddl.table(BOOKKEEPING))
    .order_by(ddl.column("name"))
)
_INSERT_APPLIED = ddl.render(
    exp.insert(
        exp.values([tuple(exp.Parameter(this=exp.Literal.number(i)) for i in (1, 2, 3))]),
        exp.Schema(
            this=ddl.table(BOOKKEEPING),
            expressions=[ddl.ident("name"), ddl.ident("checksum"), ddl.ident("duration_ms")],
        ),
    )
)


def _lock_call(function: str) -> str:
    call = exp.Anonymous(this=function, expressions=[exp.Parameter(this=exp.Literal.number(1))])
    return ddl.render(exp.select(call))


_LOCK, _UNLOCK = _lock_call("pg_advisory_lock"), _lock_call("pg_advisory_unlock")


async def _applied(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    try:
        await conn.execute(_bookkeeping_ddl())
    except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError, asyncpg.DuplicateObjectError):
        pass  # IF NOT EXISTS races: another process (a starting server, `migrate status`) created it just now
    return {row["name"]: row for row in await conn.fetch(_SELECT_APPLIED)}


def _check_unchanged(files: list[MigrationFile], applied: dict[str, asyncpg.Record]) -> list[MigrationFile]:
    by_name = {f.name: f for f in files}
    for name, row in applied.items():
        migration = by_name.get(name)
        if migration is not None and migration.checksum != row["checksum"]:
            raise MigrationError(
                f"migrations/{name} was edited after it was applied (checksum {row['checksum'][:12]} in the "
                f"database, {migration.checksum[:12]} on disk). Restore the original file and put the change "
                "in a new migration (`resource-engine migrate make`)."
            )
    return [f for f in files if f.name not in applied]


async def status(conn: asyncpg.Connection, directory: str) -> Status:
    applied = await _applied(conn)
    files = read_all(directory)
    pending = _check_unchanged(files, applied)
    unknown = tuple(sorted(set(applied) - {f.name for f in files}))
    return Status([(n, r["applied_at"].isoformat()) for n, r in applied.items()], pending, unknown)


async def apply(
    conn: asyncpg.Connection, directory: str, progress: Callable[[str, float | None], None] | None = None
) -> list[str]:
    """Apply pending files; concurrent callers wait on the lock and then find nothing to do.

    `progress(name, None)` is called as a file starts (a long migration shows what it is doing) and
    `progress(name, milliseconds)` once it committed."""
    await conn.execute(_LOCK, ADVISORY_LOCK_KEY)
    try:
        pending = (await status(conn, directory)).pending
        done = []
        for migration in pending:
            if progress:
                progress(migration.name, None)
            started = time.perf_counter()
            try:
                async with conn.transaction():
                    await conn.execute(migration.text)
                    elapsed = (time.perf_counter() - started) * 1000
                    await conn.execute(_INSERT_APPLIED, migration.name, migration.checksum, elapsed)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migrations/{migration.name} failed and was rolled back: {exc}") from exc
            done.append(migration.name)
            if progress:
                progress(migration.name, elapsed)
        return done
    finally:
        await conn.execute(_UNLOCK, ADVISORY_LOCK_KEY)
