"""A transaction pooler (PgBouncer) between the engine and PostgreSQL: detect it, and what it changes.

In transaction pooling mode each transaction (each statement outside one) may run on a different
server connection, so the engine relies on nothing that lives in a session:

- no startup parameters but `application_name`: PgBouncer refuses `search_path` and
  `statement_timeout` ("unsupported startup parameter"). Set them per role instead
  (``ALTER ROLE engine SET search_path = ...``), which `check_session_defaults` verifies at start-up;
- no named prepared statements (asyncpg's statement cache is off, ``statement_cache_size=0``):
  asyncpg then sends Parse with every Bind on the unnamed statement, which PgBouncer passes through
  whole (Debian bookworm ships 1.18, before PgBouncer's own prepared statement support in 1.21);
- LISTEN, the events leader lock (a session-level advisory lock) and the migrations' session lock
  use `ENGINE_LISTEN_DATABASE_URL`, a direct connection.

The engine's pool needs no other change: its release runs no reset query, and everything it takes
is transaction-scoped (advisory locks are ``pg_advisory_xact_lock``).
"""

from __future__ import annotations

import logging

import asyncpg

from engine.kernel.errors import ConfigurationError

NONE, PGBOUNCER, AUTO = "none", "pgbouncer", "auto"
log = logging.getLogger("engine.db")


async def _probe(url: str) -> asyncpg.Connection:
    """A connection any pooler accepts: no startup setting, no statement cache."""
    return await asyncpg.connect(url, statement_cache_size=0, server_settings={"application_name": "resource-engine"})


async def detect(url: str) -> str:
    """`pgbouncer` when something pools connections between us and the server, else `none`.

    A pooler answers the startup with a backend key of its own (for its cancel requests), so the
    pid it announces differs from the server process that runs our query.
    """
    conn = await _probe(url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        return NONE if backend == conn.get_server_pid() else PGBOUNCER
    finally:
        await conn.close()


async def resolve(configured: str, url: str) -> str:
    return await detect(url) if configured == AUTO else configured


async def check_session_defaults(url: str, schema: str | None, statement_timeout_ms: int) -> None:
    """Through a pooler the engine cannot set `search_path` or `statement_timeout`: the role must.

    A wrong schema would send every query to other tables, so it stops the start; a different
    statement timeout is only logged (the request deadline still cancels a slow query).
    """
    conn = await _probe(url)
    try:
        current, timeout = await conn.fetchrow(
            "SELECT current_schema(), (SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout')"
        )
    finally:
        await conn.close()
    if schema and current != schema:
        raise ConfigurationError(
            f"ENGINE_DB_SCHEMA is {schema!r} but connections through the pooler use schema {current!r}: "
            f"PgBouncer passes no search_path, so set it for the role "
            f"(ALTER ROLE <user> SET search_path = {schema}) or in the pooler's connect_query"
        )
    if timeout != statement_timeout_ms:
        log.warning(
            "statement_timeout through the pooler is %s ms, not the configured %s ms: PgBouncer passes no "
            "startup settings; set it for the role (ALTER ROLE <user> SET statement_timeout = %s)",
            timeout,
            statement_timeout_ms,
            statement_timeout_ms,
        )


def session_url(pooler: str, database_url: str, listen_url: str | None) -> str:
    """The URL for session-level connections (LISTEN, leader lock, start-up migrations)."""
    if listen_url:
        return listen_url
    if pooler == PGBOUNCER:
        raise ConfigurationError(
            "DATABASE_URL goes through PgBouncer in transaction pooling mode, where LISTEN and session "
            "locks do not work: set ENGINE_LISTEN_DATABASE_URL to a direct PostgreSQL URL"
        )
    return database_url
