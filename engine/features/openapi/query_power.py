"""OpenAPI for the list's counts, boolean groups, aggregates and search (engine.http.query_power).

Derived from the resource's declarations (`aggregates:`, `search:`), so a resource documents only
what it accepts: no `group_by` without declared fields, no `q` without a declared search.
"""

from __future__ import annotations

import re
from typing import Any

from engine.http.query_power import COUNTS, MAX_DEPTH, MAX_SEARCH, MAX_TERMS
from engine.spec import Resource
from engine.sql.aggregates import FUNCTIONS, GRANULARITIES, function_applies, output_name


def _group_pattern(resource: Resource) -> str:
    options = []
    for name in resource.aggregates.group_by:
        unit = f"(:({'|'.join(GRANULARITIES)}))?" if resource.fields[name].sql_type == "timestamptz" else ""
        options.append(re.escape(name) + unit)
    one = "(" + "|".join(options) + ")"
    return f"^{one}(,{one})*$"


def _aggregate_names(resource: Resource) -> list[str]:
    names = ["count"]
    for name in resource.aggregates.metrics:
        names += [f"{fn}:{name}" for fn in FUNCTIONS if function_applies(fn, resource.fields[name].sql_type)]
    return names


def _boolean(name: str, meaning: str, resource: Resource) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": f"{meaning} of filters written as `field[op]=value` and nested `or=(...)`, `and=(...)`, "
        f"`not=(...)` groups (at most {MAX_DEPTH} levels, {MAX_TERMS} filters); a value holding `,` `(` `)` "
        'is written in double quotes (`\\"` for a quote). Several groups, and plain filters, are ANDed.',
        "schema": {"type": "string", "pattern": r"^\(.*\)$"},
        "example": "(status=active,and=(status=paused,name[ilike]=*bot*))",
    }


def boolean_parameters(resource: Resource) -> list[dict[str, Any]]:
    """`or`, `and` and `not`: on lists, and on the bulk update and delete by filter."""
    return [
        _boolean("or", "Rows matching any", resource),
        _boolean("and", "Rows matching all", resource),
        _boolean("not", "Rows matching not all", resource),
    ]


def count_parameters() -> list[dict[str, Any]]:
    """count= and `Prefer: count=`: every list of rows offers them (the events list too)."""
    return [
        {
            "name": "count",
            "in": "query",
            "description": "Add `meta.total`, the rows matching the filters that you may read: `exact`; "
            "`estimated` (exact up to ENGINE_COUNT_EXACT_BELOW rows, the planner's estimate above); `planned` "
            "(always the estimate). `meta.total_is` says `exact` or `estimated`.",
            "schema": {"type": "string", "enum": list(COUNTS)},
        },
        {
            "name": "Prefer",
            "in": "header",
            "description": "`count=exact|estimated|planned`: the same as the `count` parameter (which wins when "
            "both are sent), confirmed by `Preference-Applied`. Preferences the list does not understand, "
            "`count=` with another value too, are ignored (RFC 7240).",
            "schema": {"type": "string"},
            "example": "count=exact",
        },
    ]


def power_parameters(resource: Resource) -> list[dict[str, Any]]:
    """count, Prefer, or/and/not, and (when declared) group_by/aggregate and q."""
    parameters: list[dict[str, Any]] = [
        *count_parameters(),
        *boolean_parameters(resource),
    ]
    if resource.aggregates is not None and resource.aggregates.group_by:
        parameters.append(
            {
                "name": "group_by",
                "in": "query",
                "description": "Answer groups instead of rows: one per distinct value of these fields (a date-time "
                "by `:day`, `:week` or `:month`, in UTC), with `aggregate` (default `count`). Not with sort, "
                "cursor, fields, include or count.",
                "schema": {"type": "string", "pattern": _group_pattern(resource)},
                "example": resource.aggregates.group_by[0],
            }
        )
    if resource.aggregates is not None:
        parameters.append(
            {
                "name": "aggregate",
                "in": "query",
                "description": "Comma-separated aggregates over the rows you may read after the filters; each "
                "group carries them as `count`, `sum_<field>`, `avg_<field>`, `min_<field>`, `max_<field>`.",
                "schema": {"type": "array", "items": {"type": "string", "enum": _aggregate_names(resource)}},
                "style": "form",
                "explode": False,
            }
        )
    if resource.search is not None:
        fields = ", ".join(f"`{f.field}`" for f in resource.search.fields)
        parameters.append(
            {
                "name": "q",
                "in": "query",
                "description": f"Full-text search ({resource.search.language}) over {fields}, the fields you may "
                'read only; web-search syntax: words, "quoted phrases", `or`, `-word`. By relevance unless '
                "`sort` is given.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SEARCH, "pattern": r"\S"},
                "example": "support -billing",
            }
        )
    return parameters


def groups_schema(resource: Resource) -> dict[str, Any] | None:
    """The body of a `group_by`/`aggregate` answer; None when the resource declares no aggregates."""
    if resource.aggregates is None:
        return None
    properties: dict[str, Any] = {name: {} for name in resource.aggregates.group_by}
    properties["count"] = {"type": "integer"}
    for name in resource.aggregates.metrics:
        for fn in FUNCTIONS:
            if function_applies(fn, resource.fields[name].sql_type):
                properties[output_name(fn, name)] = {}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"type": "object", "properties": properties}}},
    }


META = {
    "total": {"type": "integer", "description": "With `count`: the rows matching the filters that you may read."},
    "total_is": {"type": "string", "enum": ["exact", "estimated"], "description": "With `count`."},
}
