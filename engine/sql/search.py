"""Full-text search (`search:` in resources.yaml, `q=` on lists) over stored tsvector columns.

The searched fields are split into vector groups by field rules: the fields every reader may
read share one group, and each field with a read rule in the spec gets a group of its own. Each
group is a generated column (`GENERATED ALWAYS AS (<tsvector of its fields>) STORED`, named by a
hash of its expression, so a changed declaration is a new column) with a GIN index; `migrate make`
writes both. A query matches a group only where the caller may read every field in it:

    ("_search_1a2b3c4d" @@ q) OR (<the field's read rule> AND "_search_5e6f7a8b" @@ q)

so a word that appears only in a field hidden from the caller never finds the row, while each
arm of the OR is still served by its own index, and no vector is computed at query time.
Relevance is the sum of ts_rank over the groups the caller may read; the query text is a bound
parameter (websearch_to_tsquery), never SQL. The columns are not fields: never selected or returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from engine.spec import Resource
from engine.spec.model import Search, SearchField
from engine.sql.compiled import param
from engine.sql.ddl import column, render
from engine.sql.queries import Predicate

QUERY_PARAM = "q_text"
RANK = "_rank"  # the relevance column of a ranked list (dropped before the response)
COLUMN_PREFIX = "_search_"  # stored vector columns: a schema property may not start with it


def groups(resource: Resource) -> tuple[tuple[SearchField, ...], ...]:
    """The vector groups: fields without a spec read rule together, then each ruled field alone."""
    search = resource.search
    if search is None:
        return ()
    ruled = {name for name, modes in resource.field_access.items() if "read" in modes}
    open_group = tuple(f for f in search.fields if f.field not in ruled)
    alone = tuple((f,) for f in search.fields if f.field in ruled)
    return ((open_group,) if open_group else ()) + alone


def _config(search: Search) -> exp.Expression:
    return exp.Cast(this=exp.Literal.string(search.language), to=exp.DataType.build("regconfig", udt=True))


def _field_vector(search: Search, field: SearchField, t: str | None) -> exp.Expression:
    col = column(field.field, t)
    if field.path is None:
        text = exp.Coalesce(this=col, expressions=[exp.Literal.string("")])
        vector = exp.Anonymous(this="to_tsvector", expressions=[_config(search), text])
    else:
        path = exp.Cast(this=exp.Literal.string(field.path), to=exp.DataType.build("jsonpath", udt=True))
        strings = exp.Anonymous(this="jsonb_path_query_array", expressions=[col, path])
        kinds = exp.Cast(this=exp.Literal.string('["string"]'), to=exp.DataType.build("jsonb"))
        vector = exp.Anonymous(this="jsonb_to_tsvector", expressions=[_config(search), strings, kinds])
    return exp.Anonymous(this="setweight", expressions=[vector, exp.Literal.string(field.weight)])


def vector(search: Search, group: tuple[SearchField, ...], t: str | None) -> exp.Expression:
    """One group's tsvector: the same expression in the index and in every query (so it matches)."""
    parts = [_field_vector(search, f, t) for f in group]
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return exp.Paren(this=result) if len(parts) > 1 else result


def column_name(search: Search, group: tuple[SearchField, ...]) -> str:
    """`_search_<hash of the expression>`: a changed group is a new column (and a new index)."""
    digest = hashlib.sha1(render(vector(search, group, None)).encode()).hexdigest()[:8]
    return f"{COLUMN_PREFIX}{digest}"


def columns(resource: Resource) -> tuple[str, ...]:
    """The stored vector column of each group, in group order."""
    search = resource.search
    return () if search is None else tuple(column_name(search, group) for group in groups(resource))


def column_models(resource: Resource) -> dict[str, dict[str, Any]]:
    """The generated columns, as migration-model entries (engine.migrations.model)."""
    search = resource.search
    if search is None:
        return {}
    return {
        column_name(search, group): {
            "type": "tsvector",
            "nullable": True,
            "default": None,
            "generated": render(vector(search, group, None)),
        }
        for group in groups(resource)
    }


def index_models(resource: Resource) -> dict[str, dict[str, str]]:
    """A GIN index on each vector column, as migration-model entries."""
    return {
        f"{resource.table}{name}_idx": {"using": "gin", "expression": render(column(name))}
        for name in columns(resource)
    }


def _tsquery(search: Search) -> exp.Expression:
    return exp.Anonymous(this="websearch_to_tsquery", expressions=[_config(search), param(QUERY_PARAM)])


def _readable(group: tuple[SearchField, ...], masks: Mapping[str, Predicate], t: str) -> exp.Expression | None:
    """Where the caller may read every field of the group (None: everywhere)."""
    rules = [masks[f.field].build(t) for f in group if f.field in masks]
    return exp.and_(*rules) if rules else None


def _arms(resource: Resource, masks: Mapping[str, Predicate], t: str, rank: bool) -> list[exp.Expression]:
    search = resource.search
    assert search is not None
    arms = []
    for group in groups(resource):
        stored = column(column_name(search, group), t)
        if rank:
            term: exp.Expression = exp.Anonymous(this="ts_rank", expressions=[stored, _tsquery(search)])
        else:
            term = exp.MatchAgainst(this=_tsquery(search), expressions=[stored])  # vector @@ query
        readable = _readable(group, masks, t)
        if readable is not None:
            if rank:
                term = exp.Case(ifs=[exp.If(this=readable, true=term)], default=exp.Literal.number(0))
            else:
                term = exp.and_(readable, term)
        arms.append(term)
    return arms


def _params(text: str, masks: Mapping[str, Predicate]) -> dict:
    values: dict = {QUERY_PARAM: text}
    for predicate in masks.values():
        values.update(predicate.params)
    return values


def match(resource: Resource, text: str, masks: Mapping[str, Predicate]) -> Predicate:
    """Rows where `text` matches a vector group the caller may read."""
    shape = ("search", tuple(sorted((n, p.key) for n, p in masks.items())))

    def build(t: str) -> exp.Expression:
        arms = _arms(resource, masks, t, rank=False)
        return exp.Paren(this=exp.or_(*arms)) if len(arms) > 1 else arms[0]

    return Predicate(shape, build, _params(text, masks))


def rank(resource: Resource, text: str, masks: Mapping[str, Predicate]) -> Predicate:
    """The relevance of a row, summed over the groups the caller may read (a double, so a cursor
    holding it compares exactly)."""
    shape = ("search_rank", tuple(sorted((n, p.key) for n, p in masks.items())))

    def build(t: str) -> exp.Expression:
        arms = _arms(resource, masks, t, rank=True)
        total = arms[0]
        for arm in arms[1:]:
            total = exp.Add(this=total, expression=arm)
        return exp.Cast(this=exp.Paren(this=total), to=exp.DataType.build("double precision"))

    return Predicate(shape, build, _params(text, masks))
