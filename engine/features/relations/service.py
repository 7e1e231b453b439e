"""Embedding related rows (`?include=`) with one query per included name per request.

For a page of rows, the values of the linking column are collected and the related rows fetched
with `WHERE <column> = ANY($1) AND <access predicates>`: never one query per row, and the
related rows pass the same access predicates as reading them directly, so an include can never
show a row the caller could not read. SQL is compiled once per shape and cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from sqlglot import exp

from engine.features.relations.includes import Include, includes_of, resolve
from engine.http.handlers import authorize
from engine.http.keys import IDENTITY, MANAGERS, POOL
from engine.resources.listing import ListQuery
from engine.spec import Resource, Spec
from engine.sql.compiled import Compiled, ShapeCache, param
from engine.sql.ddl import column, table
from engine.sql.queries import Masks, Predicate, bind_predicates, drop_hidden, mask_key, projection

KEYS_PARAM = "e_keys"


class Relations:
    """Per-app relation machinery: the include names of every resource and the embedding SQL cache."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.includes = {name: includes_of(spec, resource) for name, resource in spec.resources.items()}
        self._cache = ShapeCache()

    def plan(self, resource: Resource, names: Iterable[str], fields: tuple[str, ...] | None) -> Embedding:
        """Check the include names (400 for unknown ones) and widen `fields` by the linking columns."""
        includes = resolve(self.includes[resource.name], tuple(names))
        extra: tuple[str, ...] = ()
        if fields is not None:
            extra = tuple(dict.fromkeys(i.local for i in includes if i.local not in fields))
            fields = (*fields, *extra)
        return Embedding(self, includes, fields, extra)

    def embed_sql(self, include: Include, predicates: tuple[Predicate, ...], masks: Masks = ()) -> Compiled:
        source = self.spec.resources[include.source]
        shape = ("embed", source.name, include.remote, include.many, tuple(p.key for p in predicates), mask_key(masks))

        def build() -> exp.Expression:
            t = source.table
            conditions = [column(include.remote, t).eq(exp.Any(this=exp.Paren(this=param(KEYS_PARAM))))]
            conditions += [p.build(t) for p in predicates]
            query = exp.select(*projection(source.columns, masks, t)).from_(table(t)).where(exp.and_(*conditions))
            if include.many:
                order = [include.remote, *(["created_at"] if "created_at" in source.fields else []), source.primary_key]
                query = query.order_by(*[column(c, t) for c in order])
            return query

        return self._cache.get(shape, build)


@dataclass(frozen=True)
class Embedding:
    """What one request embeds: the includes, the widened projection, and the columns to drop after."""

    relations: Relations
    includes: tuple[Include, ...]
    fields: tuple[str, ...] | None
    extra: tuple[str, ...]

    def widen(self, query: ListQuery) -> ListQuery:
        return replace(query, fields=self.fields) if self.extra else query

    async def attach(self, request: web.Request, rows: list[dict[str, Any]]) -> None:
        """Fetch each include's rows for the whole page (one query each) and put them into `rows`."""
        for include in self.includes:
            related = await self._fetch(request, include, rows)
            for row in rows:
                key = row.get(include.local)
                row[include.name] = related.get(key, []) if include.many else related.get(key)
        for row in rows:
            for name in self.extra:
                row.pop(name, None)  # a linking column a field rule hid is already gone

    async def _fetch(self, request: web.Request, include: Include, rows: list[dict[str, Any]]) -> dict[Any, Any]:
        keys = list(dict.fromkeys(row[include.local] for row in rows if row.get(include.local) is not None))
        source = self.relations.spec.resources[include.source]
        if not include.many:  # a referenced row is read like GET /api/<target>/{id}: its roles apply
            await authorize(request, source, include.action)
        if not keys:
            return {}
        manager = request.app[MANAGERS][source.name]
        predicates = await manager.predicates(include.action, request[IDENTITY])
        masks = await manager.masks(request[IDENTITY])  # fields the caller may not read stay out
        compiled = self.relations.embed_sql(include, predicates, masks)
        values = bind_predicates((*predicates, *(p for _, p in masks)), {KEYS_PARAM: keys})
        found = [dict(record) for record in await request.app[POOL].fetch(compiled.sql, *compiled.args(values))]
        drop_hidden(found, masks)
        if not include.many:
            return {row.get(include.remote): row for row in found}
        grouped: dict[Any, list[dict[str, Any]]] = {}
        for row in found:
            grouped.setdefault(row.get(include.remote), []).append(row)
        return grouped


RELATIONS = web.AppKey("relations", Relations)
