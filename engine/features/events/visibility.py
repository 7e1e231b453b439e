"""Who may see which events: the same rules as reading the row, evaluated as SQL.

An event is visible to a caller when
1. the `authorize` hook lets the caller `read` the event's resource (roles), and
2. the row as the event recorded it (`data`: after the change; before it, for deletes) satisfies
   the caller's `access_predicates` for `read` (ownership and any plugin's row rules), and the
   read rule of every field in the payload (`field_access`): a field the caller may not read is
   never sent, so such an event is withheld whole.

Rule 2 runs the resource's own predicates against `jsonb_populate_record(NULL::<table>, data)`
aliased as the resource's table, so the predicates need no change, ownership is judged as of the
event (a user keeps the history of a row they deleted), and no row is ever checked in Python.
Admins (no predicates, every resource readable) see every event, including those of resources
since removed from the spec.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from sqlglot import exp

from engine.features.events.payload import Event
from engine.features.events.tables import EVENTS, select_ids_where
from engine.http.keys import IDENTITY, MANAGERS, PLUGINS, SPEC
from engine.kernel.errors import Forbidden
from engine.resources.access import may
from engine.resources.manager import ResourceManager
from engine.spec import Resource
from engine.sql.compiled import ShapeCache, param
from engine.sql.ddl import column, ident, table
from engine.sql.queries import Predicate


def _rename(expression: exp.Expression, prefix: str) -> exp.Expression:
    """Give a predicate's placeholders a per-resource prefix: two resources' rules never collide."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this:
            return param(prefix + node.name)
        return node

    return expression.transform(visit)


def _as_row(resource: Resource, data: exp.Expression) -> exp.Table:
    """`jsonb_populate_record(NULL::<table>, data) AS <table>`: the event's row, typed like the table."""
    row_type = exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=table(resource.table))
    record = exp.Anonymous(this="jsonb_populate_record", expressions=[exp.Cast(this=exp.Null(), to=row_type), data])
    return exp.Table(this=record, alias=exp.TableAlias(this=ident(resource.table)))


@dataclass(frozen=True)
class Visibility:
    resources: frozenset[str]  # resources whose events the caller may see (within any ?resources filter)
    restricted: tuple[tuple[Resource, tuple[Predicate, ...]], ...]  # those with row rules
    everything: bool  # no rule at all: every event in the table (admins without a filter)

    @property
    def open(self) -> frozenset[str]:
        return self.resources - {resource.name for resource, _ in self.restricted}

    def _arms(self, events_table: str, with_open: bool) -> exp.Expression:
        arms: list[exp.Expression] = []
        if with_open and self.open:
            arms.append(column("resource", events_table).eq(exp.Any(this=exp.Paren(this=param("v_open")))))
        for i, (resource, predicates) in enumerate(self.restricted):
            rules = [_rename(p.build(resource.table), f"v{i}_") for p in predicates]
            row = exp.select(exp.Literal.number(1)).from_(_as_row(resource, column("data", events_table)))
            arms.append(
                exp.and_(
                    column("resource", events_table).eq(param(f"v{i}_resource")),
                    exp.Exists(this=row.where(exp.and_(*rules))),
                )
            )
        return exp.or_(*arms) if arms else exp.false()

    def _key(self, with_open: bool) -> tuple:
        shape = tuple((r.name, r.table, tuple(p.key for p in predicates)) for r, predicates in self.restricted)
        return ("event-visibility", with_open and bool(self.open), shape)

    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {"v_open": sorted(self.open)}
        for i, (resource, predicates) in enumerate(self.restricted):
            values[f"v{i}_resource"] = resource.name
            for predicate in predicates:
                values.update({f"v{i}_{name}": value for name, value in predicate.params.items()})
        return values

    def predicate(self) -> Predicate | None:
        """The whole rule as one WHERE fragment on the events table; None when nothing is hidden."""
        if self.everything:
            return None
        return Predicate(self._key(True), lambda t: self._arms(t, True), self.params())

    async def visible(self, pool: asyncpg.Pool, cache: ShapeCache, events: Iterable[Event]) -> list[Event]:
        """The events this caller may see, in their order; one query for those under row rules."""
        events = [e for e in events if self.everything or e.resource in self.resources]
        restricted = {resource.name for resource, _ in self.restricted}
        checked = [e.id for e in events if e.resource in restricted]
        if not checked:
            return events
        compiled = cache.get(self._key(False), lambda: select_ids_where(self._arms(EVENTS, False)))
        allowed = {r["id"] for r in await pool.fetch(compiled.sql, *compiled.args({**self.params(), "ids": checked}))}
        return [e for e in events if e.resource not in restricted or e.id in allowed]


async def _row_rules(manager: ResourceManager, identity) -> tuple[Predicate, ...]:
    """The read predicates, and the read rule of every field the event payload carries: an event
    whose row holds a field the caller may not read is withheld whole (one payload serves every
    subscriber), unless `events.exclude` keeps the field out of payloads anyway."""
    excluded = manager.resource.events.get("exclude", ())
    masks = [p for name, p in await manager.masks(identity) if name not in excluded]
    return (*await manager.predicates("read", identity), *masks)


async def visibility_for(request: web.Request, names: tuple[str, ...] | None) -> Visibility:
    """The caller's rule for all resources, or for `names` (then a resource they may not read is 403)."""
    spec, pm, identity = request.app[SPEC], request.app[PLUGINS], request[IDENTITY]
    readable: list[str] = []
    restricted: list[tuple[Resource, tuple[Predicate, ...]]] = []
    for name in names if names is not None else spec.resources:
        resource = spec.resources[name]
        if not await may(pm, request, resource, "read", identity):
            if names is not None:
                raise Forbidden(f"your roles do not allow reading {name}, so not its events either")
            continue
        readable.append(name)
        predicates = await _row_rules(request.app[MANAGERS][name], identity)
        if predicates:
            restricted.append((resource, predicates))
    everything = names is None and not restricted and len(readable) == len(spec.resources)
    return Visibility(frozenset(readable), tuple(restricted), everything)
