"""The event tables and every fixed statement on them, built with sqlglot once at import.

`_engine_events` is the outbox: one row per change, written in the change's own transaction. Each
row carries its id (bigserial) and `tx`, a transaction clock reading (`ddl.transaction_clock`: at
least the id of the transaction that wrote it). Readers consume events in (tx, id) order and only
below the *horizon*, the oldest transaction still running: an event there is *settled*, since
every transaction that could still commit an event has a clock at or above the horizon. So
nothing can appear behind a reader's position later; a position is the (tx, id) of the last event
handled, and ``(tx, id) > position`` is exactly "what I have not seen". Writers take no lock for
this: a lock held through the commit would make writes commit one at a time.
"""

from __future__ import annotations

from sqlglot import exp

from engine.db.internal import table_model
from engine.spec import Field, Resource
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import as_bigint, column, ident, table

EVENTS = "_engine_events"
FAILURES = "_engine_event_failures"
CURSORS = "_engine_event_cursors"
HANDLERS_CURSOR = "handlers"  # the cluster-wide position of on_event delivery
PRUNED_CURSOR = "pruned"  # the highest id `events prune` removed: older resumes cannot be gap-free

EVENT_COLUMNS = ("id", "resource", "action", "record_id", "actor", "at", "data", "changes")
_WRITTEN = ("resource", "action", "record_id", "actor", "data", "changes")  # what an insert supplies
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
        "tx": _col("bigint", default={"kind": "transaction_clock"}),
    },
    "id",
    indexes={
        f"{EVENTS}_order_idx": [["tx", False], ["id", False]],
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
    {
        "name": _col("text"),
        "position": _col("bigint"),  # the event id of the position
        "updated_at": _col("timestamptz", default=_NOW),
        "tx": _col("bigint", nullable=True),  # its transaction; NULL in cursors saved before `tx` existed
    },
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


_LEADER_LOCK = 0x5E5E0002  # held by the one process that delivers to on_event handlers

CHANNEL = compile_expression(exp.select(channel_expression()))
TRY_LEADER = compile_expression(
    exp.select(_fn("pg_try_advisory_lock", exp.Literal.number(_LEADER_LOCK), _schema_key()))
)
NOTIFY = compile_expression(exp.select(_fn("pg_notify", channel_expression(), exp.Literal.string(""))))

# The horizon: the oldest transaction running in the statement's snapshot (the next one to start
# when none is). Every transaction below it has ended, and every later commit has a tx at or above it.
HORIZON = as_bigint(_fn("pg_snapshot_xmin", _fn("pg_current_snapshot")))

# An event written inside a transaction the engine commits itself: the NOTIFY is delivered at that
# commit. (PostgreSQL serializes the commits of notifying transactions, so the single-statement
# writes of events/inline.py notify afterwards instead, coalesced; see dispatcher.Notifier.)
INSERT_EVENT = compile_expression(
    exp.Insert(
        this=exp.Schema(this=table(EVENTS), expressions=[ident(c) for c in _WRITTEN]),
        expression=exp.select(*[param(c) for c in _WRITTEN]).from_(
            exp.Subquery(
                this=exp.select(exp.alias_(_fn("pg_notify", channel_expression(), exp.Literal.string("")), "notified")),
                alias=exp.TableAlias(this=ident("notice")),
            )
        ),
    )
)

# The events of many rows (a set-based write's, or a delete's cascade) in one statement: one array
# per column (jsonb travels as text, as in engine.sql.bulk), inserted in the arrays' order, so
# their ids (and `tx`) are what one INSERT_EVENT per event would have given them; one NOTIFY.
_IN, _ORD = "event_in", "event_ord"
_JSONB = ("data", "changes")


def _many_events() -> exp.Expression:
    arrays = [exp.Cast(this=param(c), to=exp.DataType.build("text[]")) for c in _WRITTEN]
    source = exp.Unnest(
        expressions=arrays,
        alias=exp.TableAlias(this=ident(_IN), columns=[ident(c) for c in _WRITTEN]),
        offset=ident(_ORD),
    )
    values = [
        exp.Cast(this=column(c, _IN), to=exp.DataType.build("jsonb")) if c in _JSONB else column(c, _IN)
        for c in _WRITTEN
    ]
    notice = exp.select(exp.alias_(_fn("pg_notify", channel_expression(), exp.Literal.string("")), "notified"))
    select = exp.select(*values).from_(source).join(table("notice"), join_type="cross").order_by(column(_ORD, _IN))
    target = exp.Schema(this=table(EVENTS), expressions=[ident(c) for c in _WRITTEN])
    insert = exp.Insert(this=target, expression=select)
    return insert.with_("notice", as_=notice)


INSERT_EVENTS = compile_expression(_many_events())


def _position() -> exp.Tuple:
    return exp.Tuple(expressions=[column("tx", EVENTS), column("id", EVENTS)])


def _after() -> exp.Expression:
    """``(tx, id) > (:after_tx, :after_id)``: a row comparison, answered by the (tx, id) index."""
    return exp.GT(this=_position(), expression=exp.Tuple(expressions=[param("after_tx"), param("after_id")]))


def _select_events(light: bool = False) -> exp.Select:
    """Every column, plus `settled`: whether the event is below the horizon, so safe to hand out.
    `light`: `data` and `changes` null (what the pump reads while no stream listens: it only logs)."""
    payload = ("data", "changes") if light else ()
    return exp.select(
        *[exp.alias_(exp.Null(), c) if c in payload else column(c, EVENTS) for c in EVENT_COLUMNS],
        column("tx", EVENTS),
        exp.alias_(exp.LT(this=column("tx", EVENTS), expression=HORIZON.copy()), "settled"),
    ).from_(table(EVENTS))


def select_after_where(condition: exp.Expression | None, light: bool = False) -> exp.Expression:
    """Events after a position (that also satisfy `condition`, a visibility rule), in (tx, id) order."""
    where = _after() if condition is None else exp.and_(_after(), condition)
    ordered = _select_events(light).where(where).order_by(column("tx", EVENTS), column("id", EVENTS))
    return ordered.limit(param("limit"))


SELECT_AFTER = compile_expression(select_after_where(None))
SELECT_AFTER_LIGHT = compile_expression(select_after_where(None, light=True))  # no payloads: no stream to hand them
# Where a reader starting "from now" begins: past every transaction that has ended.
START = compile_expression(exp.select(exp.alias_(HORIZON.copy(), "tx")))
# The whole snapshot ("xmin:xmax:running,..."): which transactions had committed when a stream
# began "from now on" (positions.Snapshot), so events they wrote, settled later, stay behind it.
SNAPSHOT = compile_expression(exp.select(exp.alias_(exp.cast(_fn("pg_current_snapshot"), "text"), "snapshot")))
# The position matching an id-only position of an older release: the first transaction holding a
# later id (events before the upgrade all share the transaction that added `tx`).
POSITION_AFTER_ID = compile_expression(
    exp.select(_fn("coalesce", exp.Min(this=column("tx")), HORIZON.copy()))
    .from_(table(EVENTS))
    .where(column("id") > param("id"))
)
POSITION_OF = compile_expression(
    exp.select(column("tx"), column("id")).from_(table(EVENTS)).where(column("id").eq(param("id")))
)


def select_ids_where(condition: exp.Expression) -> exp.Expression:
    """Which of the given event ids satisfy `condition`."""
    where = exp.and_(column("id", EVENTS).eq(exp.Any(this=exp.Paren(this=param("ids")))), condition)
    return exp.select(column("id", EVENTS)).from_(table(EVENTS)).where(where)


def _upsert_cursor(on_conflict_update: bool) -> Compiled:
    names = ("name", "position", "tx")
    values = exp.values([tuple(param(n) for n in names)])
    query = exp.insert(values, exp.Schema(this=table(CURSORS), expressions=[ident(n) for n in names]))
    if on_conflict_update:
        action = exp.var("DO UPDATE")
        updates = [exp.EQ(this=column(n), expression=exp.column(n, table="excluded")) for n in ("position", "tx")] + [
            exp.EQ(this=column("updated_at"), expression=_fn("now"))
        ]
        query.set("conflict", exp.OnConflict(conflict_keys=[ident("name")], action=action, expressions=updates))
    else:
        query.set("conflict", exp.OnConflict(conflict_keys=[ident("name")], action=exp.var("DO NOTHING")))
    return compile_expression(query)


INIT_CURSOR = _upsert_cursor(False)
SAVE_CURSOR = _upsert_cursor(True)
LOAD_CURSOR = compile_expression(
    exp.select(column("tx"), column("position")).from_(table(CURSORS)).where(column("name").eq(param("name")))
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

# Retention: delete events older than a moment and their handler failures; report how many, and
# the position of the newest event removed (a resume from before it would skip events).
_AGE = exp.Cast(this=param("age"), to=exp.DataType.build("interval"))
_GONE = exp.delete(table(EVENTS)).where(column("at") < exp.Sub(this=_fn("now"), expression=_AGE))
_GONE.set("returning", exp.Returning(expressions=[column("id"), column("tx")]))
_FAILED = exp.delete(table(FAILURES)).where(
    column("event_id").isin(query=exp.select(column("id")).from_(table("gone")))
)
PRUNE_EVENTS = compile_expression(
    exp.select(
        exp.alias_(exp.Subquery(this=exp.select(exp.Count(this=exp.Star())).from_(table("gone"))), "count"),
        column("tx"),
        column("id"),
    )
    .from_(table("gone"))
    .order_by(exp.Ordered(this=column("tx"), desc=True), exp.Ordered(this=column("id"), desc=True))
    .limit(1)
    .with_("gone", as_=_GONE)
    .with_("failed", as_=_FAILED)
)
