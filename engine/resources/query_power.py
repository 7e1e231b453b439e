"""Counts, grouped aggregates, boolean groups and full-text search on a resource's list.

All of them become predicates of the list's one WHERE clause (engine.sql.boolean,
engine.sql.search) or statements sharing it (engine.sql.aggregates), next to the access rules:
nothing is filtered in Python, so no count, group or search hit can include a row, or match a
field, the caller may not read. A field hidden by a read rule cannot be filtered, grouped,
aggregated or searched on (the 400 an unknown field gets, as for plain filters).
"""

from __future__ import annotations

import base64
import binascii
import math
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson

from engine.db.replicas import run_read
from engine.db.rows import as_dicts
from engine.kernel.errors import BadRequest, ServiceUnavailable
from engine.kernel.identity import Identity
from engine.resources import field_rules
from engine.resources.listing import ListQuery
from engine.resources.values import ValueProblem, from_query, to_json
from engine.spec import Resource
from engine.sql import aggregates as sql_aggregates
from engine.sql import boolean, search
from engine.sql.compiled import param
from engine.sql.ddl import column
from engine.sql.queries import Masks, Predicate, bind_predicates

RANK_CURSOR = "~relevance"  # the signature of a cursor over a ranked search


@dataclass(frozen=True)
class Plan:
    """What the query-power parameters add to one list: predicates, and the ranking of a search."""

    predicates: tuple[Predicate, ...] = ()
    rank: Predicate | None = None

    def encode(self, resource: Resource, row: dict[str, Any]) -> str:
        """The next page's cursor after `row` in relevance order: its rank and primary key."""
        values = [row[search.RANK], to_json(resource.pk, row[resource.primary_key])]
        return base64.urlsafe_b64encode(orjson.dumps([RANK_CURSOR, values])).rstrip(b"=").decode()


def _hidden(resource: Resource, name: str, parameter: str) -> BadRequest:
    return BadRequest(
        f"unknown field {name!r} in '{parameter}': not a field of {resource.name} you may read", parameter=parameter
    )


def refuse_hidden(resource: Resource, query: ListQuery, masks: Masks) -> None:
    """400 for a boolean-group filter, a group key or an aggregated field the caller may not read."""
    hidden = {name for name, _ in masks}
    if not hidden:
        return
    for leaf in boolean.leaves(query.where):
        if leaf.field in hidden:
            parameter = next(g.op for g in query.where if leaf in boolean.leaves((g,)))
            raise _hidden(resource, leaf.field, parameter)
    for name, _ in query.group_by:
        if name in hidden:
            raise _hidden(resource, name, "group_by")
    for _, name in query.aggregates:
        if name in hidden:
            raise _hidden(resource, name, "aggregate")


def refuse_hidden_fields(resource: Resource, query: ListQuery, masks: Masks) -> None:
    """400 for any use of a field the caller may not read: a plain filter or sort (field_rules), a
    boolean-group filter, a group key or an aggregate (refuse_hidden)."""
    field_rules.refuse_hidden(resource, query, masks)
    refuse_hidden(resource, query, masks)


def _after_rank(resource: Resource, rank: Predicate) -> Predicate:
    """Rows after the cursor in (relevance DESC, primary key ASC) order."""

    def build(t: str):
        score, pk = rank.build(t), column(resource.primary_key, t)
        return (score < param("sc_rank")) | (score.copy().eq(param("sc_rank")) & (pk > param("sc_pk")))

    return Predicate(("after_rank", rank.key), build, {})


def _decode_rank(resource: Resource, token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        signature, (score, pk) = orjson.loads(raw)
        if signature != RANK_CURSOR or not isinstance(score, float | int) or isinstance(score, bool):
            raise ValueError
        if not math.isfinite(score) or not isinstance(pk, str | int) or isinstance(pk, bool):
            raise ValueError
        return {"sc_rank": float(score), "sc_pk": from_query(resource.pk, str(pk))}
    except (binascii.Error, ValueError, TypeError, ValueProblem):
        raise BadRequest(
            "cursor is not valid for this search: pass meta.next_cursor of the previous page, same q and no sort",
            parameter="cursor",
        ) from None


def plan(resource: Resource, query: ListQuery, masks: Masks) -> tuple[Plan, dict[str, Any]]:
    """The predicates for `query`'s boolean groups and search, and the values a ranked cursor binds."""
    refuse_hidden(resource, query, masks)
    predicates: list[Predicate] = []
    grouped = boolean.predicate(query.where)
    if grouped is not None:
        predicates.append(grouped)
    rank = None
    values: dict[str, Any] = {}
    if query.search is not None:
        rules = dict(masks)
        predicates.append(search.match(resource, query.search, rules))
        if query.ranked:
            rank = search.rank(resource, query.search, rules)
            if query.cursor is not None:
                values = _decode_rank(resource, query.cursor)
                predicates.append(_after_rank(resource, rank))
    return Plan(tuple(predicates), rank), values


# --- counts and aggregates ---------------------------------------------------------------------


@asynccontextmanager
async def _guarded(conn: asyncpg.Connection, timeout_ms: int, what: str, own_deadline: bool = True):
    """Statements on `conn` that stop after `timeout_ms` (a read-only transaction with its own
    statement_timeout; without `own_deadline`, the pool's, which the request deadline caps): a 503
    saying so, not a hang."""
    try:
        if not own_deadline or timeout_ms <= 0:
            yield
            return
        async with conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            yield
    except asyncpg.QueryCanceledError:
        limit = f"{timeout_ms} ms" if own_deadline and timeout_ms > 0 else "its statement deadline"
        raise ServiceUnavailable(
            f"the {what} took longer than {limit} and was stopped: narrow it with filters",
            headers={"Retry-After": "1"},
        ) from None


async def _scope(
    manager: Any, query: ListQuery, identity: Identity | None, predicates: tuple[Predicate, ...] | None
) -> tuple[tuple[Predicate, ...], dict]:
    """The list's predicates (access rules, groups, search; no cursor) and the values they bind;
    `predicates` replaces the caller's list predicates, as in `ResourceManager.list`."""
    if predicates is None:
        predicates = await manager.predicates("list", identity)
    masks = await manager.masks(identity)
    from_rules = tuple(p for _, p in masks)
    refuse_hidden_fields(manager.resource, query, masks)  # the whole query: `plan` sees no group_by
    unranked = ListQuery(filters=query.filters, where=query.where, search=query.search)
    extra, _ = plan(manager.resource, unranked, masks)
    predicates = (*predicates, *extra.predicates)
    values = bind_predicates((*predicates, *from_rules), {f"f{i}": f.value for i, f in enumerate(query.filters)})
    return predicates, values


class Countable(Protocol):
    """What a count needs of the rows it counts: a ResourceManager is one, and so is the events
    list (engine.features.events.history); `predicates` is asked only when the caller passes none."""

    resource: Resource
    queries: Any
    reads: Any

    async def masks(self, identity: Identity | None) -> Any: ...


async def count(
    manager: Countable,
    query: ListQuery,
    identity: Identity | None,
    mode: str,
    *,
    threshold: int,
    timeout_ms: int,
    predicates: tuple[Predicate, ...] | None = None,
) -> tuple[int, str]:
    """`meta.total` and `meta.total_is` (exact | estimated) for `count=exact|estimated|planned`.

    An exact count on a large table is what the statement deadline is for; an estimated or planned
    one reads at most the threshold's rows, so it runs under the pool's deadline (no transaction:
    one round trip instead of four). Like the list, it reads through `manager.reads`: a replica
    that has replayed the caller's last write, else the primary (engine.db.replicas).
    """
    predicates, values = await _scope(manager, query, identity, predicates)

    async def counted(conn: asyncpg.Connection) -> tuple[int, str]:
        async with _guarded(conn, timeout_ms, "count", own_deadline=mode == "exact"):
            return await _count(conn, manager.queries, query, predicates, values, mode, threshold)

    return await run_read(manager.reads, counted)


async def _count(
    conn: asyncpg.Connection, queries: Any, query: ListQuery, predicates: tuple, values: dict, mode: str, threshold: int
) -> tuple[int, str]:
    if mode == "exact":
        compiled = sql_aggregates.count(queries, query.filters, predicates)
        return await conn.fetchval(compiled.sql, *compiled.args(values)), "exact"
    if mode == "estimated":
        compiled = sql_aggregates.count_upto(queries, query.filters, predicates)
        found = await conn.fetchval(compiled.sql, *compiled.args({**values, sql_aggregates.COUNT_LIMIT: threshold + 1}))
        if found <= threshold:
            return found, "exact"
    compiled = sql_aggregates.matching(queries, query.filters, predicates)
    plan_json = await conn.fetchval("EXPLAIN (FORMAT JSON) " + compiled.sql, *compiled.args(values))
    estimate = int(_decoded(plan_json)[0]["Plan"]["Plan Rows"])
    return (max(estimate, threshold + 1) if mode == "estimated" else estimate), "estimated"


def _decoded(plan_json: Any) -> Any:
    return orjson.loads(plan_json) if isinstance(plan_json, str | bytes) else plan_json


async def aggregate(
    manager: Any,
    query: ListQuery,
    identity: Identity | None,
    *,
    max_groups: int,
    timeout_ms: int,
    predicates: tuple[Predicate, ...] | None = None,
) -> list[dict[str, Any]]:
    """The groups of `group_by` with their aggregates, over the rows the caller may read."""
    predicates, values = await _scope(manager, query, identity, predicates)
    compiled = sql_aggregates.grouped(manager.queries, query.filters, predicates, query.group_by, query.aggregates)
    values[sql_aggregates.GROUP_LIMIT] = max_groups + 1

    async def grouped(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        async with _guarded(conn, timeout_ms, "aggregate"):
            return await conn.fetch(compiled.sql, *compiled.args(values))

    records = await run_read(manager.reads, grouped)  # a replica may answer, as for the list
    if len(records) > max_groups:
        raise BadRequest(
            f"more than {max_groups} groups: add filters, or group by fewer or coarser fields (created_at:month)",
            parameter="group_by",
        )
    return as_dicts(records)
