"""The table page's URL is the list API's own query string; the console's plain HTML forms
(filter builder, column chooser, search) send simple fields that become that query string here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from multidict import MultiMapping

from engine.features.console.fields import ResourceView

FILTER_KEY = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[([a-z]+)\])?$")
API_RESERVED = ("sort", "limit", "cursor", "fields", "include", "q", "count", "or", "and", "not", "group_by")
API_RESERVED += ("aggregate",)
FORM_KEYS = ("f", "op", "v", "col", "search", "apply")


@dataclass(frozen=True)
class FilterRow:
    field: str
    op: str
    value: str


def from_form(view: ResourceView, query: MultiMapping[str]) -> str | None:
    """The API query string for a submitted builder form; None when the URL is already one."""
    if not any(key in query for key in FORM_KEYS):
        return None
    params: list[tuple[str, str]] = []
    known = {f.name for f in view.filterable}
    for field, op, value in zip(query.getall("f", []), query.getall("op", []), query.getall("v", []), strict=False):
        if field in known and value != "":
            params.append((field if op == "eq" else f"{field}[{op}]", value))
    search = query.get("search", "").strip()
    if search:
        params.append(("q", search))
    columns = [c for c in query.getall("col", []) if c in {f.name for f in view.readable}]
    if columns:
        if view.primary_key not in columns:
            columns.insert(0, view.primary_key)
        params.append(("fields", ",".join(columns)))
    for kept in ("sort", "limit"):
        if kept in query:
            params.append((kept, query[kept]))
    return urlencode(params, safe="[],-")


def filter_rows(query: MultiMapping[str]) -> list[FilterRow]:
    rows = []
    for key, value in query.items():
        match = FILTER_KEY.match(key)
        if key not in API_RESERVED and match:
            rows.append(FilterRow(match.group(1), match.group(2) or "eq", value))
    return rows


def shown_columns(view: ResourceView, query: MultiMapping[str]) -> tuple[str, ...]:
    fields = query.get("fields")
    readable = [f.name for f in view.readable]
    if fields:
        chosen = tuple(name for name in fields.split(",") if name in readable)
        if chosen:
            return chosen
    return view.default_columns


def with_params(query: MultiMapping[str], drop: tuple[str, ...], **set_: str) -> str:
    """The query string without `drop` (and any cursor), with `set_` replaced."""
    kept = [(k, v) for k, v in query.items() if k not in drop and k not in set_ and k != "cursor"]
    return urlencode([*kept, *set_.items()], safe="[],-")


def sort_link(query: MultiMapping[str], field: str) -> tuple[str, str]:
    """(the query string that sorts by `field`, the column's aria-sort state)."""
    current = query.get("sort", "")
    if current == field:
        return with_params(query, (), sort=f"-{field}"), "ascending"
    if current == f"-{field}":
        return with_params(query, (), sort=field), "descending"
    return with_params(query, (), sort=field), "none"
