"""Embedding related rows (`?include=`) with one query per include level per request.

For a page of rows, the values of the linking column are collected and the related rows fetched
with `WHERE <column> = ANY($1) AND <access predicates>`: never one query per row, and the
related rows pass the same access predicates as reading them directly, so an include can never
show a row the caller could not read. A many-to-many include brings each link's far-side row in
the same statement (a LEFT JOIN LATERAL whose subquery holds the far resource's read predicates),
so a far row the caller may not read embeds as null. SQL is compiled once per shape and cached.

The includes of one level share one statement, each a column holding its rows as one JSON array
of arrays (`_records`; `Relations.together`); on a read or a list they are columns of the rows' own statement
(`Embedding.joined`), so `GET /api/teams/{id}?include=members,agents` and `GET
/api/teams?include=members,agents` are one round trip each.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from aiohttp import web
from sqlglot import exp

from engine.db import coalesce
from engine.db.rows import as_sequences
from engine.features.relations.includes import Include, Path, far_include, includes_of, resolve
from engine.http.handlers import authorize
from engine.http.keys import IDENTITY, MANAGERS
from engine.kernel.errors import Forbidden, Unauthorized
from engine.resources.listing import ListQuery
from engine.spec import Relation, Resource, Spec
from engine.spec.model import ACTIVE
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, ident, table
from engine.sql.json_out import flattened, json_array, json_field
from engine.sql.outputs import has_secrets, outputs, shown
from engine.sql.queries import (
    Columns,
    Link,
    Masks,
    Predicate,
    bind_predicates,
    drop_hidden,
    mask_flag,
    mask_key,
    projection,
)

KEYS_PARAM = "e_keys"
LINKS_PLANS_KEPT = 1024  # links statements kept, one per shape of the rules; all forgotten when full
PLANS_BY_ANSWERS_KEPT = 8192  # callers' access answers -> their links plan (a few hundred bytes each)
ACTIVE_PARAM = "e_active"
LINKS, FAR = "_links", "_far"  # aliases in the links statement
NOBODY = Predicate(("nobody",), lambda table_name: exp.false())
_NOBODY_ONLY = (NOBODY,)  # one tuple: a refused role's answer is the same object each time (links_plan)


def prefixed(predicates: tuple[Predicate, ...], prefix: str) -> tuple[Predicate, ...]:
    """The predicates with their parameters renamed, so two resources' rules can share a statement
    (both may bind e.g. the owner parameter, with different column types)."""
    return tuple(_renamed(p, prefix) for p in predicates)


# (prefix, build, through) -> the renamed builders. The access plugin's predicates share their
# builders between callers (only the parameters differ), so they are made once per rule list and
# prefix, and a request only renames its parameters. The functions themselves are the key (a key
# names a shape only within one resource's statements).
_RENAMED: dict[tuple, tuple[Callable[[str], exp.Expression], Callable[[str, Link], exp.Expression] | None]] = {}
_RENAMED_LIMIT = 4096  # builders made per caller (a plugin's closures) and old specs' are forgotten when full


def _renamed(predicate: Predicate, prefix: str) -> Predicate:
    shape = (prefix, predicate.build, predicate.through)
    builders = _RENAMED.get(shape)
    if builders is None:

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.this:
                return param(prefix + node.name)
            return node

        def build(table_name: str) -> exp.Expression:
            return predicate.build(table_name).transform(swap)

        def through(table_name: str, link: Link) -> exp.Expression:
            return predicate.build_through(table_name, link).transform(swap)

        if len(_RENAMED) >= _RENAMED_LIMIT:
            _RENAMED.clear()
        builders = _RENAMED[shape] = (build, through if predicate.through else None)
    params = {prefix + name: value for name, value in predicate.params.items()}
    return Predicate(
        (prefix, predicate.key),
        builders[0],
        params,
        builders[1],
        holds_if=predicate.holds_if,
        requires=predicate.requires,
    )


@lru_cache(maxsize=1024)  # asked per include on every request; the columns of a resource are one tuple
def _types(resource: Resource, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(resource.fields[name].sql_type for name in names)


def prefixed_masks(masks: Masks, prefix: str) -> Masks:
    """Field rules with their parameters renamed as `prefixed` renames predicates'."""
    return tuple(zip((f for f, _ in masks), prefixed(tuple(p for _, p in masks), prefix), strict=True))


def _free_name(name: str, resource: Resource) -> str:
    """`name`, with more leading underscores while it is one of the resource's fields."""
    while name in resource.fields:
        name = "_" + name
    return name


def _aliased(name: str, alias: str) -> exp.Table:
    source = table(name)
    source.set("alias", exp.TableAlias(this=ident(alias)))
    return source


class Relations:
    """Per-app relation machinery: the include names of every resource and the embedding SQL cache."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.includes = {name: includes_of(spec, resource) for name, resource in spec.resources.items()}
        self._cache = ShapeCache()
        self._layouts: dict[tuple[str, str, str], tuple[tuple[str, ...], tuple[str, ...], str, str]] = {}
        self._correlates: dict[tuple, bool] = {}
        # A links statement per shape of the rules (see `links_plan`): shared by every caller.
        self.links_plans: dict[tuple, _LinksPlan] = {}
        self._plans_by_answers: dict[tuple, tuple[tuple, _LinksPlan]] = {}  # a caller's answers -> their plan

    def plan(
        self,
        resource: Resource,
        names: Iterable[str],
        fields: tuple[str, ...] | None,
        far: Relation | None = None,
    ) -> Embedding:
        """Check the include names (400 for unknown ones) and widen `fields` by the linking columns.

        `far`: the rows are links of that relation (a nested route), which carry their far-side row
        unless a projection (`fields`) leaves it out."""
        paths = resolve(self.includes, resource.name, tuple(names))
        if far is not None and fields is None and all(p.include.name != far.far_name for p in paths):
            paths = (Path(far_include(self.spec, far, soft=True)), *paths)
        extra: tuple[str, ...] = ()
        if fields is not None:
            extra = tuple(dict.fromkeys(p.include.local for p in paths if p.include.local not in fields))
            fields = (*fields, *extra)
        return Embedding(self, paths, fields, extra)

    def statement(self, shape: tuple, build: Callable[[], exp.Expression]) -> Compiled:
        """The compiled statement of `shape`, built by `build` the first time."""
        return self._cache.get(shape, build)

    def reference_query(
        self, include: Include, predicates: tuple[Predicate, ...], masks: Masks = (), prefix: str = ""
    ) -> tuple[tuple, Callable[[], exp.Select]]:
        """Referenced rows by key, as a shape and its builder: SELECT <columns, field rules applied>
        WHERE <remote> = ANY($keys) AND <predicates>; the keys parameter is `prefix` + KEYS_PARAM."""
        source = self.spec.resources[include.source]
        shape = ("embed", source.name, include.remote, tuple(p.key for p in predicates), mask_key(masks), prefix)

        def build() -> exp.Select:
            t = source.table
            keys = param(prefix + KEYS_PARAM)
            conditions = [column(include.remote, t).eq(exp.Any(this=exp.Paren(this=keys)))]
            conditions += [p.build(t) for p in predicates]
            return (
                exp.select(*projection(source.columns, masks, t, source)).from_(table(t)).where(exp.and_(*conditions))
            )

        return shape, build

    def links_query(
        self,
        relation: Relation,
        predicates: tuple[Predicate, ...],
        far_predicates: tuple[Predicate, ...],
        far_masks: Masks = (),
        prefix: str = "",
    ) -> tuple[tuple, Callable[[], exp.Select]]:
        """The links of many rows with their far-side rows, in one statement, as a shape and its
        builder; its own parameters are named with `prefix`:

        WITH _links AS (SELECT <join columns> FROM <through> WHERE <key> = ANY($1) AND <join predicates>
                        [AND <status> = 'active'])
        SELECT _links.*, _far.<columns> AS _f0.. FROM _links
        LEFT JOIN LATERAL (SELECT * FROM <target> AS _far WHERE _far.<pk> = _links.<other>
                           AND <target's read predicates> OFFSET 0) AS _far ON TRUE
        """
        through, far = self.spec.resources[relation.through], self.spec.resources[relation.target]
        shape = ("links", relation.through, relation.key, relation.other, relation.invite is not None)
        shape += (tuple(p.key for p in predicates), tuple(p.key for p in far_predicates), mask_key(far_masks), prefix)

        def build() -> exp.Select:
            t = through.table
            keys = param(prefix + KEYS_PARAM)
            conditions = [column(relation.key, t).eq(exp.Any(this=exp.Paren(this=keys)))]
            conditions += [p.build(t) for p in predicates]
            if relation.invite is not None:  # pending invitations are the invitee's business only
                conditions.append(column(relation.invite.status_field, t).eq(param(prefix + ACTIVE_PARAM)))
            links = exp.select(*outputs(through, through.columns, t)).from_(table(t)).where(exp.and_(*conditions))
            on = [column(far.primary_key, FAR).eq(column(relation.other, LINKS))]
            # The far rules may ask the link row first (Predicate.through): it holds the stored values
            # unless a secret of the links table is masked in _links.
            link = None if has_secrets(through) else Link(LINKS, through.table, relation.other, far.primary_key)

            def rule_on_far(rule: Predicate) -> exp.Expression:
                return rule.build(FAR) if link is None else rule.build_through(FAR, link)

            on += [rule_on_far(p) for p in far_predicates]
            selected = [column(c, LINKS) for c in through.columns]
            # A field rule of the far resource is evaluated once per far row, beside its columns, as
            # a flag; the value is CASE WHEN <flag>, and the flag comes after all columns.
            flags = {name: _free_name(f"_m{i}", far) for i, (name, _) in enumerate(far_masks)}
            for i, name in enumerate(far.columns):
                value = shown(far, name, FAR)
                if name in flags:
                    value = exp.Case(ifs=[exp.If(this=column(flags[name], FAR), true=value)])
                selected.append(exp.alias_(value, f"_f{i}"))
            selected += [exp.alias_(column(flags[name], FAR), f"_m{i}") for i, (name, _) in enumerate(far_masks)]
            order = [relation.key, *(["created_at"] if "created_at" in through.fields else []), through.primary_key]
            # LATERAL ... OFFSET 0: each link probes the far table's key index, its rules asked per
            # link. A plain join would let a rule that reads the link become a join filter, and the
            # generic plan (engine.db: force_generic_plan) hash the whole far table instead.
            far_columns = [exp.Column(this=exp.Star(), table=ident(FAR))]
            far_columns += [exp.alias_(rule_on_far(rule), flags[name]) for name, rule in far_masks]
            far_rows = exp.select(*far_columns).from_(_aliased(far.table, FAR)).where(exp.and_(*on)).offset(0)
            lateral = exp.Lateral(this=far_rows.subquery(), alias=exp.TableAlias(this=ident(FAR)))
            return (
                exp.select(*selected)
                .from_(table(LINKS))
                .with_(LINKS, as_=links)
                .join(lateral, on=exp.true(), join_type="left")
                .order_by(*[column(c, LINKS) for c in order])
            )

        return shape, build

    def links_plan(
        self,
        relation: Relation,
        prefix: str,
        predicates: tuple[Predicate, ...],
        far_predicates: tuple[Predicate, ...],
        far_masks: Masks,
    ) -> _LinksPlan:
        """The links statement of `relation` for rules of these shapes (their keys), and how its rows
        become links, made at the first request of that shape: its parameters named with `prefix`
        (`prefixed`), the far side's with `prefix` + "far_" and its field rules' with "farm_". Only
        the values differ between callers, and the request binds those (`Embedding._plan_links`).
        Per caller only a reference to the plan is kept (W5's 1,000 callers kept 16.6 MB of Python
        objects when each had its own statement, 8.2 MB now: bench/RESULTS.md)."""
        # While the access hooks keep their answers (`pure`: the same objects for the same caller),
        # the caller's plan is found by their identity, which is cheaper than hashing their keys;
        # the entry holds the answers, so an id is never reused while it is there.
        answers = (predicates, far_predicates, *(p for _, p in far_masks))
        known = (id(relation), prefix, *(f for f, _ in far_masks), *map(id, answers))
        hit = self._plans_by_answers.get(known)
        if hit is not None and hit[1].relation is relation and all(map(operator.is_, hit[0], answers)):
            return hit[1]
        key = (id(relation), prefix, *(p.key for p in predicates), None, *(p.key for p in far_predicates), None)
        key += mask_key(far_masks)
        plan = self.links_plans.get(key)
        if plan is None or plan.relation is not relation:
            plan = self._links_plan(relation, prefix, (predicates, far_predicates, far_masks))
            if len(self.links_plans) >= LINKS_PLANS_KEPT:
                self.links_plans.clear()
            self.links_plans[key] = plan
        if len(self._plans_by_answers) >= PLANS_BY_ANSWERS_KEPT:
            self._plans_by_answers.clear()
        self._plans_by_answers[known] = (answers, plan)
        return plan

    def _links_plan(
        self, relation: Relation, prefix: str, rules: tuple[tuple[Predicate, ...], tuple[Predicate, ...], Masks]
    ) -> _LinksPlan:
        predicates, far_predicates, far_masks = rules
        far = prefixed(far_predicates, prefix + "far_")
        masks = prefixed_masks(far_masks, prefix + "farm_")
        renamed = prefixed(predicates, prefix) if prefix else predicates
        shape, build = self.links_query(relation, renamed, far, masks, prefix)
        names = tuple(f for f, _ in masks)

        def finish(found: Sequence[Sequence[Any]]) -> dict[Any, Any]:
            grouped: dict[Any, list[dict[str, Any]]] = {}
            for record in found:
                link = self.split_link(relation, record, names)
                grouped.setdefault(link[relation.key], []).append(link)
            return grouped

        through, target = self.spec.resources[relation.through], self.spec.resources[relation.target]
        types = (*_types(through, through.columns), *_types(target, target.columns), *(("boolean",) * len(masks)))
        return _LinksPlan(relation, shape, build, types, finish)

    def together(self, parts: tuple[tuple[tuple, Callable[[], exp.Select], tuple[str, ...]], ...]) -> Compiled:
        """Several embedding statements as one: `SELECT array_to_json(ARRAY(SELECT json_build_array(
        <columns>) ... ORDER BY ...)) AS _i0, ...`, each statement's rows a JSON array in its own order (one round
        trip where each would take one; their parameters must not share names). Each part comes
        with its columns' SQL types, which say how each field is written (`_records`)."""

        def build() -> exp.Expression:
            arrays = []
            for i, (_, part, types) in enumerate(parts):
                arrays.append(exp.alias_(_records(part(), types), f"_i{i}"))
            return exp.select(*arrays)

        return self._cache.get(("together", *(shape for shape, _, _ in parts)), build)

    def correlates(self, key: tuple, table_name: str, queries: Sequence[_Query]) -> bool:
        """Whether the statements of `queries` may refer to `table_name`'s row from inside: none of
        them names that table without an alias of its own (worked out once per `key`)."""
        answer = self._correlates.get(key)
        if answer is None:
            answer = self._correlates[key] = not any(
                t.alias_or_name == table_name for q in queries for t in q.build().find_all(exp.Table)
            )
        return answer

    def split_link(self, relation: Relation, record: Sequence[Any], masked: tuple[str, ...] = ()) -> dict[str, Any]:
        """A links record as the join row carrying its far-side row (None when hidden or gone), without
        the far fields its field rules (on the fields `masked`, their flags last) hide from the caller."""
        link_names, far_names, far_pk, far_name = self._layout(relation)
        values = tuple(record)
        count = len(link_names)
        link = dict(zip(link_names, values, strict=False))
        far_row = dict(zip(far_names, values[count:], strict=False))
        if masked:
            flags = count + len(far_names)
            for i, name in enumerate(masked):
                if not values[flags + i]:
                    far_row.pop(name, None)
        link[far_name] = far_row if far_row[far_pk] is not None else None
        return link

    def _layout(self, relation: Relation) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
        """The links statement's columns of `relation`: the link's, the far row's, the far key, and
        the name the far row goes under."""
        key = (relation.through, relation.target, relation.other)
        layout = self._layouts.get(key)
        if layout is None:
            far = self.spec.resources[relation.target]
            through = self.spec.resources[relation.through].columns
            layout = self._layouts[key] = (through, far.columns, far.primary_key, relation.far_name)
        return layout


async def readable(request: web.Request, resource: Resource, action: str, soft: bool) -> tuple[Predicate, ...]:
    """The caller's predicates on `resource` for `action`, after its role check: a refused role is a
    403 (401 anonymous), or, when `soft`, matches no row (the embedded row is null)."""
    try:
        manager = await authorize(request, resource, action)
    except (Forbidden, Unauthorized):
        if not soft:
            raise
        return _NOBODY_ONLY
    return await manager.predicates(action, request[IDENTITY])


@dataclass(frozen=True)
class Embedding:
    """What one request embeds: the include paths, the widened projection, and the columns to drop after."""

    relations: Relations
    paths: tuple[Path, ...]
    fields: tuple[str, ...] | None
    extra: tuple[str, ...]

    def widen(self, query: ListQuery) -> ListQuery:
        return replace(query, fields=self.fields) if self.extra else query

    async def attach(
        self, request: web.Request, rows: list[dict[str, Any]], found: list[dict[Any, Any]] | None = None
    ) -> None:
        """Fetch each include's rows for the whole page (one query per level) and put them into `rows`.

        The first level's includes share one statement when there are several (`Relations.together`);
        `found`: their rows by key, already read (`joined`).
        """
        if found is None:
            found = await self._fetch_all(request, tuple(p.include for p in self.paths), rows)
        for path, related in zip(self.paths, found, strict=True):
            await self._attach(request, path, rows, related)
        for row in rows:
            for name in self.extra:
                row.pop(name, None)  # a linking column a field rule hid is already gone

    async def joined(self, request: web.Request, resource: Resource) -> Joined | None:
        """The first level's includes as columns of the read of a `resource` row or of a page of
        them, so the rows and their includes are one statement: each include's statement a
        correlated `ARRAY(...)` on the row's own linking column. None when that cannot be (a role
        refused on an include's resource: its 403 must not come before a read's 404; an include
        reading another database, or the row's own table unaliased, where the correlation would
        be ambiguous)."""
        includes = tuple(p.include for p in self.paths)
        try:
            planned = [await self._plan(request, inc, None, f"j{i}_") for i, inc in enumerate(includes)]  # correlated
        except (Forbidden, Unauthorized):
            return None
        reads = request.app[MANAGERS][resource.name].reads
        if not all(isinstance(q, _Query) and q.reads is reads for q in planned):
            return None
        queries: list[_Query] = planned  # type: ignore[assignment]
        key = ("joined", resource.table, *((q.shape, inc.local) for q, inc in zip(queries, includes, strict=True)))
        if not self.relations.correlates(key, resource.table, queries):
            return None
        values: dict[str, Any] = {}
        for q in queries:
            values.update(q.values)

        def build(table_name: str) -> list[exp.Expression]:
            return [
                exp.alias_(_correlated(q, f"j{i}_{KEYS_PARAM}", column(inc.local, table_name)), f"_j{i}")
                for i, (q, inc) in enumerate(zip(queries, includes, strict=True))
            ]

        return Joined(self, Columns(key, build, values), tuple(queries))

    async def _attach(
        self, request: web.Request, path: Path, rows: list[dict[str, Any]], related: dict[Any, Any] | None = None
    ) -> None:
        include = path.include
        if related is None:
            (related,) = await self._fetch_all(request, (include,), rows)
        for row in rows:
            key = row.get(include.local)
            row[include.name] = related.get(key, []) if include.many else related.get(key)
        if not path.deeper:
            return
        embedded = [row[include.name] for row in rows]
        if include.relation is not None:
            far_name = include.relation.far_name
            embedded = [link[far_name] for links in embedded for link in links]
        targets = [row for row in embedded if row is not None]
        for deeper in path.deeper:
            await self._attach(request, Path(deeper), targets)

    async def _fetch_all(
        self, request: web.Request, includes: tuple[Include, ...], rows: list[dict[str, Any]]
    ) -> list[dict[Any, Any]]:
        """Each include's rows by key: one statement for all those that need one and read from the
        same database, else one each."""
        several = len(includes) > 1  # their parameters then take the include's own prefix
        planned = [
            await self._plan(request, include, _keys(include, rows), f"i{i}_" if several else "")
            for i, include in enumerate(includes)
        ]
        queries = [q for q in planned if isinstance(q, _Query)]
        if len(queries) > 1 and all(q.reads is queries[0].reads for q in queries):
            compiled = self.relations.together(tuple((q.shape, q.build, q.types) for q in queries))
            values: dict[str, Any] = {}
            for q in queries:
                values.update(q.values)
            record = await coalesce.fetchrow(queries[0].reads, compiled, compiled.args(values))
            assert record is not None  # one row of one aggregate per include
            (columns,) = as_sequences([record])
            answers = iter([q.finish(flattened(columns[i], len(q.types))) for i, q in enumerate(queries)])
        else:
            answers = iter([await q.run(self.relations) for q in queries])
        return [next(answers) if isinstance(q, _Query) else q for q in planned]

    async def _plan(
        self, request: web.Request, include: Include, keys: list[Any] | None, prefix: str
    ) -> _Query | dict[Any, Any]:
        """The statement that fetches `include`'s rows by `keys`, or its answer when none is needed.
        With `keys` None (`joined`), the keys parameter is left unbound for the caller to replace."""
        if include.relation is not None:
            return await self._plan_links(request, include.relation, keys, prefix) if keys != [] else {}
        spec = self.relations.spec
        source = spec.resources[include.source]
        predicates = await readable(request, source, include.action, include.soft)  # like GET /api/<target>/{id}
        if keys == []:
            return {}
        manager = request.app[MANAGERS][source.name]
        masks = await manager.masks(request[IDENTITY])  # fields the caller may not read stay out
        if prefix:
            predicates, masks = prefixed(predicates, prefix), prefixed_masks(masks, prefix)
        shape, build = self.relations.reference_query(include, predicates, masks, prefix)
        values = bind_predicates((*predicates, *(p for _, p in masks)), _bound(prefix + KEYS_PARAM, keys))
        flags = tuple(mask_flag(i) for i, (f, _) in enumerate(masks) if f in source.fields)
        names, types = (*source.columns, *flags), (*_types(source, source.columns), *(("boolean",) * len(flags)))

        def finish(found: Sequence[Sequence[Any]]) -> dict[Any, Any]:
            got = [dict(zip(names, row, strict=True)) for row in found]
            drop_hidden(got, masks)
            return {row.get(include.remote): row for row in got}

        return _Query(shape, build, types, values, manager.reads, finish)

    async def _plan_links(
        self, request: web.Request, relation: Relation, keys: list[Any] | None, prefix: str
    ) -> _Query:
        spec, identity = self.relations.spec, request[IDENTITY]
        predicates = await request.app[MANAGERS][relation.through].predicates("list", identity)
        readable_far = await readable(request, spec.resources[relation.target], "read", True)
        masks = await request.app[MANAGERS][relation.target].masks(identity)
        plan = self.relations.links_plan(relation, prefix, predicates, readable_far, masks)
        values = {**_bound(prefix + KEYS_PARAM, keys), prefix + ACTIVE_PARAM: ACTIVE}
        _bind(values, predicates, prefix)  # the names `prefixed` gives them in the plan's statement
        _bind(values, readable_far, prefix + "far_")
        _bind(values, (p for _, p in masks), prefix + "farm_")
        links = request.app[MANAGERS][relation.through]  # its reads may go to a replica (engine.db.replicas)
        return _Query(plan.shape, plan.build, plan.types, values, links.reads, plan.finish)


@dataclass(frozen=True)
class _LinksPlan:
    """What a links statement is for every caller whose rules have the same shapes: the statement
    and how its rows become links (only the values differ between them)."""

    relation: Relation
    shape: tuple
    build: Callable[[], exp.Select]
    types: tuple[str, ...]
    finish: Callable[[Sequence[Sequence[Any]]], dict[Any, Any]]


def _bind(values: dict[str, Any], predicates: Iterable[Predicate], prefix: str) -> None:
    """Add what `predicates` bind under the names `prefixed(predicates, prefix)` gives them, without
    making the renamed predicates (a request needs only their values)."""
    for predicate in predicates:
        for name, value in predicate.params.items():
            values[prefix + name] = value


def _keys(include: Include, rows: list[dict[str, Any]]) -> list[Any]:
    """The distinct values of the include's linking column in `rows`."""
    return list(dict.fromkeys(row[include.local] for row in rows if row.get(include.local) is not None))


def _bound(name: str, keys: list[Any] | None) -> dict[str, Any]:
    """The keys parameter's value, none when the statement is correlated instead (`joined`)."""
    return {} if keys is None else {name: keys}


def _correlated(query: _Query, keys_name: str, key: exp.Expression) -> exp.Expression:
    """`_records` of `query` with its keys parameter replaced by `ARRAY[key]`."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name == keys_name:
            return exp.Array(expressions=[key.copy()])
        return node

    return _records(query.build().transform(swap), query.types)


def _records(select: exp.Select, types: tuple[str, ...]) -> exp.Expression:
    """`array_to_json(ARRAY(SELECT json_build_array(<the select list>) ...))`: the rows as one JSON
    array of arrays, in their order, which the pool's codec reads with orjson in one call (as an
    array of records, asyncpg decoded every field on its own: three times the CPU for the same work
    in PostgreSQL, bench/RESULTS.md). Each field is written to read back as what the column decodes
    to (`json_field`); `flattened` reads back a row of more than 100 fields."""
    fields = [json_field(e.unalias(), t) for e, t in zip(select.expressions, types, strict=True)]
    select.set("expressions", [json_array(fields)])
    return exp.Anonymous(this="array_to_json", expressions=[exp.Array(expressions=[select])])


@dataclass(frozen=True)
class Joined:
    """A read's or a page's includes as columns of its own statement (`Embedding.joined`): pass
    `columns` to the read or the list, then `attach` the rows it returned."""

    embedding: Embedding
    columns: Columns
    queries: tuple[_Query, ...]

    async def attach(self, request: web.Request, rows: list[dict[str, Any]]) -> None:
        found = [
            q.finish(flattened([r for row in rows for r in row.pop(f"_j{i}")], len(q.types)))
            for i, q in enumerate(self.queries)
        ]
        await self.embedding.attach(request, rows, found)


@dataclass(frozen=True)
class _Query:
    """One include's statement: its shape and builder, the values it binds, where it reads, and how
    its rows (records, or the tuples of `Relations.together`) become the related rows by key."""

    shape: tuple
    build: Callable[[], exp.Select]
    types: tuple[str, ...]  # the SQL type of each column it returns
    values: dict[str, Any]
    reads: Any
    finish: Callable[[Sequence[Sequence[Any]]], dict[Any, Any]]

    async def run(self, relations: Relations) -> dict[Any, Any]:
        compiled = relations.statement(self.shape, self.build)
        return self.finish(as_sequences(await coalesce.fetch(self.reads, compiled, compiled.args(self.values))))


RELATIONS = web.AppKey("relations", Relations)
