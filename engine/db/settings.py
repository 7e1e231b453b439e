"""Scale-out settings of the database layer: a transaction pooler in front, read replicas beside."""

from __future__ import annotations

from engine.kernel.settings import Setting, choice, integer, items, number, seconds, url

_POSTGRES = url("postgresql", "postgres")

SETTINGS = (
    Setting(
        "ENGINE_DB_POOLER",
        choice("auto", "none", "pgbouncer", case=str.lower),
        "auto",
        "what sits between the engine and PostgreSQL: `pgbouncer` (transaction pooling: no prepared "
        "statement cache, no startup settings), `none`, or `auto` (detected at start-up)",
        "scale",
    ),
    Setting(
        "ENGINE_LISTEN_DATABASE_URL",
        _POSTGRES,
        None,
        "a direct PostgreSQL URL (not through a transaction pooler) for LISTEN, the events leader lock, "
        "migrations and the commands; required with `ENGINE_DB_POOLER=pgbouncer`",
        "scale",
        shown="unset: `DATABASE_URL`",
    ),
    Setting(
        "DATABASE_REPLICA_URLS",
        items(_POSTGRES.convert, "be comma-separated postgresql:// URLs"),
        (),
        "streaming replicas that serve reads (lists, reads, includes, counts, groups, search, event history) once they "
        "have replayed the caller's last write; writes always go to `DATABASE_URL`",
        "scale",
        shown="unset: every read on the primary",
    ),
    Setting(
        "ENGINE_REPLICA_MAX_LAG",
        seconds(),
        5.0,
        "a replica further behind the primary than this many seconds serves no reads until it catches up",
        "scale",
    ),
    Setting(
        "ENGINE_REPLICA_CHECK_INTERVAL",
        number(above=0),
        0.5,
        "how often each worker reads every replica's replay position (and the primary's WAL position)",
        "scale",
    ),
    Setting(
        "ENGINE_REPLICA_POOL_SIZE",
        integer(minimum=1),
        10,
        "connections in each worker's pool for each replica",
        "scale",
    ),
)
