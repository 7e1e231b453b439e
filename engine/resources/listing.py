"""What a list request asks for, after the query string was parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from engine.spec import Resource
from engine.sql.boolean import BoolGroup
from engine.sql.queries import Filter, SortKey

# The parameters a list takes besides filters: engine.http.query reads the first, engine.http.query_power
# the others (the boolean groups among them).
RESERVED = ("sort", "limit", "cursor", "fields", "include")
BOOLEAN = ("or", "and", "not")
POWER = ("count", *BOOLEAN, "group_by", "aggregate", "q")
LIST_PARAMETERS = (*RESERVED, *POWER)


def unknown_parameter(resource: Resource, name: str) -> str:
    """What a 400 for a query parameter that is neither a field the caller may filter on nor a list
    parameter says, with the parameters a list takes. The same words for a field the caller may not
    read (engine.resources.field_rules), so the answer does not tell the two apart."""
    parameters = (*LIST_PARAMETERS, *(("deleted",) if resource.soft_delete is not None else ()))
    return (
        f"unknown query parameter {name[:100]!r}: not a field of {resource.name} "
        f"nor a list parameter ({', '.join(parameters)})"
    )


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    sort: tuple[SortKey, ...] = ()  # always ends with the primary key, so the order is total
    fields: tuple[str, ...] | None = None  # None: every column
    limit: int = 20
    cursor: str | None = None
    include: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None
    # Query power (issue 20): see engine.http.query_power for the parameters.
    where: tuple[BoolGroup, ...] = ()  # or=(...), and=(...), not=(...): ANDed with `filters`
    count: str | None = None  # exact | estimated | planned
    group_by: tuple[tuple[str, str | None], ...] = ()  # (field, None | day | week | month)
    aggregates: tuple[tuple[str, str | None], ...] = ()  # (count | sum | avg | min | max, field)
    search: str | None = None  # q=<web-search text>
    ranked: bool = False  # q without sort: by relevance


class IncludePlan(Protocol):
    """An answer to the `plan_includes` hook: what `?include=` adds to one read or list.

    A plan may also have `async joined(request, resource)`, answering None or an object with
    `columns` (an `engine.sql.queries.Columns` the read of a row, or the list of a page, adds to
    its statement) and `async attach(request, rows)` for the rows that statement returned: the
    rows and their includes are then one statement (engine.features.relations does so).
    """

    fields: tuple[str, ...] | None  # the projection, widened by the columns the includes link through

    def widen(self, query: ListQuery) -> ListQuery: ...

    async def attach(self, request: Any, rows: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class NoIncludes:
    """The plan when nothing is included."""

    fields: tuple[str, ...] | None

    def widen(self, query: ListQuery) -> ListQuery:
        return query

    async def attach(self, request: Any, rows: list[dict[str, Any]]) -> None:
        return None
