"""The event tables and every fixed statement on them, built with sqlglot once at import.

`_engine_events` is the outbox: one row per change, written in the change's own transaction, with
a bigserial id whose commit order is its numeric order (see `INSERT_EVENT_LOCKED`). Readers keep a
position (the last id they handled), so `id > position` is exactly "what I have not seen".
"""

from __future__ import annotations

from sqlglot import exp

from ..db.internal import table_model
from ..spec import Field, Resource
from ..sql.compiled import Compiled, compile_expression, param
from ..sql.ddl import column, ident, table

EVENTS = "_engine_events"
FAILURES = "_engine_event_failures"
CURSORS = "_engine_event_cursors"
HANDLERS_CURSOR = "handlers"  # the cluster-wide position of on_event delivery
PRUNED_CURSOR = "pruned"  # the highest id `events prune` removed: older resumes cannot be gap-free

EVENT_COLUMNS = ("id", "resource", "action", "record_id", "actor", "at", "data", "changes")
_NOW = {"kind": "now"}


def _col(sql_type: str, nullable: bool = False, default: dict | None = None) -> dict:
    return {"type": sql_type, "nullable": nullable, "default": default}


EVENTS_MODEL = table_model(
    EVENTS,
    {
        "id": _col("bigserial"),
        "resource": _col("text"),
        "action": _col("text"),
        "record_id": _col("text"),
        "actor": _col("text", nullable=True),
        "at": _col("timestamptz", default=_NOW),
        "data": _col("jsonb"),
        "changes": _col("jsonb", nullable=True),
    },
    "id",
    indexes={
        f"{EVENTS}_at_idx": [["at", False]],
        f"{EVENTS}_record_idx": [["resource", False], ["record_id", False], ["id", False]],
        f"{EVENTS}_actor_idx": [["actor", False], ["id", False]],
    },
)
FAILURES_MODEL = table_model(
    FAILURES,
    {
        "id": _col("bigserial"),
        "event_id": _col("bigint"),
        "handler": _col("text"),
        "error": _col("text"),
        "attempts": _col("bigint"),
        "failed_at": _col("timestamptz", default=_NOW),
    },
    "id",
    indexes={f"{FAILURES}_event_idx": [["event_id", False]]},
)
CURSORS_MODEL = table_model(
    CURSORS,
    {"name": _col("text"), "position": _col("bigint"), "updated_at": _col("timestamptz", default=_NOW)},
    "name",
)
MODELS = (EVENTS_MODEL, FAILURES_MODEL, CURSORS_MODEL)

# The events table described as a resource, so GET /api/events reuses the list query language,
# its query shapes and its cursors unchanged.
EVENTS_RESOURCE = Resource(
    name="events",
    table=EVENTS,
    schema_path="",
    schema={"type": "object", "properties": {}},
    primary_key="id",
    fields={
        "id": Field("id", "bigint", nullable=False, generated=True, read_only=True),
        "resource": Field("resource", "text", nullable=False),
        "action": Field("action", "text", nullable=False, enum=("created", "updated", "deleted")),
        "record_id": Field("record_id", "text", nullable=False),
        "actor": Field("actor", "text", nullable=True),
        "at": Field("at", "timestamptz", nullable=False),
        "data": Field("data", "jsonb", nullable=False),
        "changes": Field("changes", "jsonb", nullable=True),
    },
)


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _schema_key() -> exp.Expression:
    """Locks are per database; hashing the schema keeps two apps in two schemas independent."""
    return _fn("hashtext", _fn("current_schema"))


def channel_expression() -> exp.Expression:
    """The NOTIFY channel: one per schema, short enough for PostgreSQL's 63-byte names."""
    return exp.DPipe(this=exp.Literal.string("engine_events_"), expression=_fn("md5", _fn("current_schema")))


_ORDER_LOCK = 0x5E5E0001  # held by each writing transaction until commit: ids commit in order
_LEADER_LOCK = 0x5E5E0002  # held by the one process that delivers to on_event handlers

CHANNEL = compile_expression(exp.select(channel_expression()))
TRY_LEADER = compile_expression(
    exp.select(_fn("pg_try_advisory_lock", exp.Literal.number(_LEADER_LOCK), _schema_key()))
)

# Each event row is inserted with the order lock and the NOTIFY folded in: one round trip per event.
# The lock is held until commit, so no transaction can commit a smaller id after a reader has seen a
# larger one; it is evaluated in the FROM, before the row's identity id is drawn, and taken as late as
# possible (the outbox insert is the last statement of a write) because it serializes writers.
_LOCKED = exp.Subquery(
    this=exp.select(
        exp.alias_(_fn("pg_advisory_xact_lock", exp.Literal.number(_ORDER_LOCK), _schema_key()), "ordered"),
        exp.alias_(_fn("pg_notify", channel_expression(), exp.Literal.string("")), "notified"),
    ),
    alias=exp.TableAlias(this=ident("lock")),
)
INSERT_EVENT_LOCKED = compile_expression(
    exp.Insert(
        this=exp.Schema(this=table(EVENTS), expressions=[ident(c) for c in EVENT_COLUMNS[1:] if c != "at"]),
        expression=exp.select(*[param(c) for c in EVENT_COLUMNS[1:] if c != "at"]).from_(_LOCKED),
    )
)


def _select_events() -> exp.Select:
    return exp.select(*[column(c, EVENTS) for c in EVENT_COLUMNS]).from_(table(EVENTS))


SELECT_AFTER = compile_expression(
    _select_events().where(column("id", EVENTS) > param("after")).order_by(column("id", EVENTS)).limit(param("limit"))
)
MAX_ID = compile_expression(
    exp.select(_fn("coalesce", exp.Max(this=column("id")), exp.Literal.number(0))).from_(table(EVENTS))
)


def select_after_where(condition: exp.Expression) -> exp.Expression:
    """Events after a position that also satisfy `condition` (a visibility rule), in id order."""
    where = exp.and_(column("id", EVENTS) > param("after"), condition)
    return _select_events().where(where).order_by(column("id", EVENTS)).limit(param("limit"))


def select_ids_where(condition: exp.Expression) -> exp.Expression:
    """Which of the given event ids satisfy `condition`."""
    where = exp.and_(column("id", EVENTS).eq(exp.Any(this=exp.Paren(this=param("ids")))), condition)
    return exp.select(column("id", EVENTS)).from_(table(EVENTS)).where(where)


def _upsert_cursor(on_conflict_update: bool) -> Compiled:
    values = exp.values([(param("name"), param("position"))])
    query = exp.insert(values, exp.Schema(this=table(CURSORS), expressions=[ident("name"), ident("position")]))
    if on_conflict_update:
        action = exp.var("DO UPDATE")
        updates = [
            exp.EQ(this=column("position"), expression=exp.column("position", table="excluded")),
            exp.EQ(this=column("updated_at"), expression=_fn("now")),
        ]
        query.set("conflict", exp.OnConflict(conflict_keys=[ident("name")], action=action, expressions=updates))
    else:
        query.set("conflict", exp.OnConflict(conflict_keys=[ident("name")], action=exp.var("DO NOTHING")))
    return compile_expression(query)


INIT_CURSOR = _upsert_cursor(False)
SAVE_CURSOR = _upsert_cursor(True)
LOAD_CURSOR = compile_expression(
    exp.select(column("position")).from_(table(CURSORS)).where(column("name").eq(param("name")))
)
INSERT_FAILURE = compile_expression(
    exp.insert(
        exp.values([(param("event_id"), param("handler"), param("error"), param("attempts"))]),
        exp.Schema(
            this=table(FAILURES),
            expressions=[ident("event_id"), ident("handler"), ident("error"), ident("attempts")],
        ),
    )
)
SELECT_FAILURES = compile_expression(
    exp.select(*[column(c) for c in ("id", "event_id", "handler", "error", "attempts", "failed_at")])
    .from_(table(FAILURES))
    .order_by(column("id"))
)

# Retention: delete events older than a moment; report how many and the highest id removed.
_AGE = exp.Cast(this=param("age"), to=exp.DataType.build("interval"))
_GONE = exp.delete(table(EVENTS)).where(column("at") < exp.Sub(this=_fn("now"), expression=_AGE))
_GONE.set("returning", exp.Returning(expressions=[column("id")]))
PRUNE_EVENTS = compile_expression(
    exp.select(exp.Count(this=exp.Star()), _fn("coalesce", exp.Max(this=column("id")), exp.Literal.number(0)))
    .from_(table("gone"))
    .with_("gone", as_=_GONE)
)
PRUNE_FAILURES = compile_expression(exp.delete(table(FAILURES)).where(column("event_id") <= param("through")))
