"""Events folded into the write's own statement, for writes that need no transaction.

A create or update whose hooks all declare they need no transaction (the `write_needs_transaction`
hook) runs as one statement: ``WITH written AS (INSERT ... RETURNING *), event AS (INSERT INTO
_engine_events ... FROM written) SELECT * FROM written``. PostgreSQL commits it as a whole, so the
event still exists exactly when its change does, with one round trip instead of BEGIN, the write,
the outbox insert and COMMIT. The row's `tx` orders it (tables.py); the NOTIFY follows the commit,
coalesced (dispatcher.written), because a NOTIFY inside would serialize the commits of all writers.

The payload is built in SQL and must equal what `payload.payload` builds in Python from the
returned row: every column but the excluded ones, timestamps written the way orjson writes them.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from engine.features.events.payload import PAST_TENSE, emits, payload
from engine.features.events.tables import EVENTS, _fn
from engine.kernel.identity import Identity
from engine.spec import Resource
from engine.sql.compiled import param
from engine.sql.ddl import column, ident, table
from engine.sql.json_out import ARGUMENTS

WRITTEN = "written"
DATA = "event_data"
BEFORE = "event_before"  # an update's payload as it was, beside DATA, when the statement reads the row

_EMPTY = exp.Literal.string("")


def _timestamp_json(value: exp.Expression) -> exp.Expression:
    """``2026-12-03T06:13:00.123456+00:00``, without the fraction when it is zero: orjson's form."""
    utc = exp.AtTimeZone(this=value, zone=exp.Literal.string("UTC"))
    whole = _fn("to_char", utc, exp.Literal.string('YYYY-MM-DD"T"HH24:MI:SS'))
    fraction = exp.Case(
        ifs=[
            exp.If(
                this=_fn("date_trunc", exp.Literal.string("second"), utc).eq(utc.copy()), true=exp.Literal.string("")
            )
        ],
        default=_fn("to_char", utc, exp.Literal.string(".US")),
    )
    return exp.DPipe(this=exp.DPipe(this=whole, expression=fraction), expression=exp.Literal.string("+00:00"))


def _as_text(value: exp.Expression) -> exp.Expression:
    return exp.Cast(this=value, to=exp.DataType.build("text"))


def _each(document: exp.Expression, alias: str) -> exp.Expression:
    """``jsonb_each(document) AS alias``: one (key, value) row per top-level field."""
    return exp.Table(this=_fn("jsonb_each", document), alias=exp.TableAlias(this=exp.to_identifier(alias)))


_PAIRS = ARGUMENTS // 2  # name/value pairs per jsonb_build_object


class InlineEvents:
    """Builds one resource's write statements with their event folded in (one per shape)."""

    def __init__(self, resource: Resource):
        self.resource = resource
        excluded = set(resource.events.get("exclude", ()))
        self._fields = [f for f in resource.columns if f not in excluded]
        self._managed = [n for n, f in resource.fields.items() if f.engine_managed and n not in excluded]

    def emits(self, action: str) -> bool:
        return emits(self.resource, PAST_TENSE[action])

    def _data(self, source: str = WRITTEN) -> exp.Expression:
        """The payload of the row in `source` (the written row, or an update's row as it was)."""
        pairs: list[exp.Expression] = []
        for name in self._fields:
            value: exp.Expression = column(name, source)
            if self.resource.fields[name].sql_type == "timestamptz":
                value = _timestamp_json(value)
            pairs.extend([exp.Literal.string(name), value])
        # A function takes at most 100 arguments: 50 fields per object, joined with || (jsonb keeps
        # its keys in its own order, so the pieces make the same document).
        objects = [_fn("jsonb_build_object", *pairs[i : i + _PAIRS * 2]) for i in range(0, len(pairs), _PAIRS * 2)]
        document = objects[0] if objects else _fn("jsonb_build_object")
        for more in objects[1:]:
            document = exp.DPipe(this=document, expression=more)
        return document

    def _changes(self, before: exp.Expression) -> exp.Expression:
        """{field: {before, after}} for the fields whose JSON value changed, as `changed_fields` says;
        `before` is the payload of the row as it was (jsonb)."""
        new, old = "new_value", "old_value"
        key, value = exp.column("key", new), exp.column("value", new)
        compare = exp.column("key", old).eq(key)
        pairs = _fn(
            "jsonb_build_object",
            exp.Literal.string("before"),
            exp.column("value", old),
            exp.Literal.string("after"),
            value,
        )
        kept = exp.NullSafeEQ(this=exp.column("value", old), expression=value)
        where = exp.not_(kept)
        if self._managed:
            managed = exp.Array(expressions=[exp.Literal.string(n) for n in self._managed])
            where = exp.and_(where, exp.not_(key.eq(exp.Any(this=exp.Paren(this=managed)))))
        changed = (
            exp.select(_fn("jsonb_object_agg", key, pairs))
            .from_(_each(exp.column(DATA, DATA), new))
            .join(
                _each(before, old),
                on=compare,
                join_type="left",
            )
            .where(where)
        )
        empty = exp.Cast(this=exp.Literal.string("{}"), to=exp.DataType.build("jsonb"))
        return _fn("coalesce", exp.Subquery(this=changed), empty)

    def ctes(self, action: str, previous: str | None = None) -> list[tuple[str, exp.Expression]]:
        """The event's rows, read from the write's ``written`` CTE (one `WITH` with the write's).
        An update's row as it was comes from the CTE named `previous` when the statement has one,
        else bound as ``ev_before`` (`values`)."""
        data = exp.select(
            exp.alias_(
                exp.Cast(this=column(self.resource.primary_key, WRITTEN), to=exp.DataType.build("text")), "record_id"
            ),
            exp.alias_(self._data(), DATA),
        ).from_(table(WRITTEN))
        changes: exp.Expression = exp.Null()
        if action == "update" and previous is None:
            changes = self._changes(exp.Cast(this=param("ev_before"), to=exp.DataType.build("jsonb")))
        elif action == "update":
            data = data.select(exp.alias_(self._data(previous), BEFORE)).join(table(previous), join_type="cross")
            changes = self._changes(exp.column(BEFORE, DATA))
        event = exp.Insert(
            this=exp.Schema(
                this=table(EVENTS),
                expressions=[ident(c) for c in ("resource", "action", "record_id", "actor", "data", "changes")],
            ),
            expression=exp.select(
                param("ev_resource"),
                param("ev_action"),
                exp.column("record_id", DATA),
                param("ev_actor"),
                exp.column(DATA, DATA),
                changes,
            ).from_(table(DATA)),
        )
        return [(DATA, data), ("event", event)]

    def values(self, action: str, identity: Identity | None, previous: dict[str, Any] | None) -> dict[str, Any]:
        values = {
            "ev_resource": self.resource.name,
            "ev_action": PAST_TENSE[action],
            "ev_actor": identity.user_id if identity is not None else None,
        }
        if action == "update" and previous is not None:  # None: the statement reads it (`ctes`)
            values["ev_before"] = payload(self.resource, previous)
        return values


class EventFold:
    """The `fold_into_write` answer for one resource and action: its event in the write's statement."""

    def __init__(self, inline: InlineEvents, action: str):
        self.inline, self.action = inline, action

    def ctes(self, written: str, previous: str | None = None) -> list[tuple[str, exp.Expression]]:
        return self.inline.ctes(self.action, previous)

    def values(self, identity: Identity | None, previous: dict[str, Any] | None) -> dict[str, Any]:
        return self.inline.values(self.action, identity, previous)
