"""The list parameters beyond filters and paging: count, or/and/not, group_by/aggregate and q.

    count=exact|estimated|planned          (also the header `Prefer: count=exact`; unknown values ignored)
    or=(status[eq]=active,and=(status[eq]=paused,name[ilike]=*bot*))
    not=(status=archived)                  a value holding , ( ) " is written "in double quotes"
    group_by=status,created_at:day&aggregate=count,min:created_at
    q=support -billing "tool call"         web-search syntax over the resource's `search:` fields

Every mistake is a 400 naming the parameter and, inside a boolean group, the offending term and
its position, so nothing is silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from multidict import MultiDict, MultiMapping

from engine.kernel.errors import BadRequest, Problem
from engine.resources.listing import BOOLEAN, POWER
from engine.spec import Resource
from engine.sql.aggregates import FUNCTIONS, GRANULARITIES, function_applies
from engine.sql.boolean import BoolGroup, Term
from engine.sql.queries import Filter

PARAMETERS = POWER
COUNTS = ("exact", "estimated", "planned")
MAX_DEPTH = 5  # groups inside groups, the outermost counting 1
MAX_TERMS = 50  # filters in all the groups of one request
MAX_SEARCH = 500  # characters of `q`


def _bad(parameter: str, message: str) -> BadRequest:
    return BadRequest(message, parameter=parameter[:100])


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise _bad(name, f"'{name}' is given more than once")
    return values[0] if values else None


def parse_count(text: str | None, parameter: str = "count") -> str | None:
    if text is None:
        return None
    if text not in COUNTS:
        raise _bad(parameter, f"'{parameter}' must be one of: {', '.join(COUNTS)} (got {text[:40]!r})")
    return text


def prefer_count(headers: MultiMapping[str]) -> str | None:
    """The list count a `Prefer` header asks for (`Prefer: count=exact`, PostgREST's spelling), or None.

    RFC 7240: preferences are comma-separated, each `name[=value]` with `;` parameters after it;
    names are case-insensitive, the first of a repeated preference counts, and one the server does
    not understand is ignored: `count=<anything else>` is a preference this server cannot honour
    (the list answers without a total), never an error. The `count` query parameter, an explicit
    request, is a 400 when its value is unknown (`parse_count`).
    """
    mode = preference(headers, "count")
    return mode if mode in COUNTS else None


def preference(headers: MultiMapping[str], wanted: str) -> str | None:
    """The lowercased value of the first `wanted` preference in the `Prefer` headers (RFC 7240:
    comma-separated `name[=value]`, `;` parameters after it, names case-insensitive), or None."""
    for header in headers.getall("Prefer", ()):
        for item in header.split(","):
            name, _, value = item.partition(";")[0].partition("=")
            if name.strip().lower() == wanted:
                return value.strip().strip('"').lower()
    return None


# --- or / and / not --------------------------------------------------------------------------------


class _Reader:
    """A cursor over one boolean parameter's text; `fail` says where the text went wrong."""

    def __init__(self, parameter: str, text: str):
        self.parameter, self.text, self.at = parameter, text, 0
        self.leaves = 0

    def fail(self, message: str, at: int | None = None) -> BadRequest:
        where = self.at if at is None else at
        return _bad(self.parameter, f"in '{self.parameter}', at character {where + 1} of its value: {message}")

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected {char!r}, found {found}")
        self.at += 1


def _group(reader: _Reader, op: str, depth: int, term: Callable[[str, str, int], Filter]) -> BoolGroup:
    if depth > MAX_DEPTH:
        raise reader.fail(f"groups nest deeper than {MAX_DEPTH} levels")
    reader.expect("(")
    terms: list[Term] = []
    while True:
        terms.append(_term(reader, depth, term))
        if reader.peek() == ",":
            reader.at += 1
            continue
        reader.expect(")")
        return BoolGroup(op, tuple(terms))


def _term(reader: _Reader, depth: int, term: Callable[[str, str, int], Filter]) -> Term:
    start = reader.at
    equals = reader.text.find("=", start)
    if equals < 0:
        raise reader.fail("expected field[op]=value or or=(...), and=(...), not=(...)")
    key = reader.text[start:equals]
    if any(c in key for c in ',()"'):
        raise reader.fail(f"{key[:60]!r} is not a filter: expected field[op]=value", start)
    reader.at = equals + 1
    if key in BOOLEAN:
        return _group(reader, key, depth + 1, term)
    value = _value(reader)
    reader.leaves += 1
    if reader.leaves > MAX_TERMS:
        raise reader.fail(f"more than {MAX_TERMS} filters in boolean groups")
    return term(key, value, start)


def _value(reader: _Reader) -> str:
    if reader.peek() == '"':
        reader.at += 1
        chars: list[str] = []
        while True:
            char = reader.peek()
            if not char:
                raise reader.fail('a quoted value is not closed with "')
            reader.at += 1
            if char == "\\" and reader.peek() in ('"', "\\"):
                chars.append(reader.peek())
                reader.at += 1
            elif char == '"':
                return "".join(chars)
            else:
                chars.append(char)
    start = reader.at
    while reader.peek() and reader.peek() not in ",()":
        if reader.peek() == '"':
            raise reader.fail('a value with " must be written in double quotes, the quote escaped as \\"')
        reader.at += 1
    if reader.peek() == "(":
        groups = " (the groups are or=(...), and=(...), not=(...))" if reader.at == start else ""
        raise reader.fail(f"a value holding ( ) or , must be written in double quotes{groups}")
    return reader.text[start : reader.at]


def parse_boolean(
    resource: Resource, query: MultiMapping[str], parse_filter: Callable[[Resource, str, str], Filter]
) -> tuple[BoolGroup, ...]:
    """Every or=/and=/not= parameter as a group (several are ANDed)."""
    groups: list[BoolGroup] = []
    total = 0
    for name, text in query.items():
        if name not in BOOLEAN:
            continue
        reader = _Reader(name, text)
        reader.leaves = total

        def term(key: str, value: str, at: int, reader: _Reader = reader) -> Filter:
            try:
                return parse_filter(resource, key, value)
            except Problem as problem:
                raise reader.fail(f"term {key[:60]}={value[:60]}: {problem.detail}", at) from None

        groups.append(_group(reader, name, 1, term))
        if reader.peek():
            raise reader.fail("unexpected text after the closing ')'")
        total = reader.leaves
    return tuple(groups)


# --- group_by / aggregate ------------------------------------------------------------------------


def _not_groupable(resource: Resource, name: str, what: str) -> BadRequest:
    declared = resource.aggregates.group_by if what == "group_by" else resource.aggregates.metrics
    allowed = ", ".join(declared) or "none"
    return _bad(
        what,
        f"{resource.name} cannot be {'grouped' if what == 'group_by' else 'aggregated'} by "
        f"{name[:100]!r}; declared fields: {allowed}",
    )


def parse_group_by(resource: Resource, text: str | None) -> tuple[tuple[str, str | None], ...]:
    if text is None:
        return ()
    keys: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        name, colon, unit = part.partition(":")
        if resource.aggregates is None or name not in resource.aggregates.group_by:
            raise (
                _not_groupable(resource, name, "group_by")
                if resource.aggregates
                else _bad("group_by", f"{resource.name} declares no aggregates (resources.yaml `aggregates:`)")
            )
        if colon and (resource.fields[name].sql_type != "timestamptz" or unit not in GRANULARITIES):
            units = ", ".join(GRANULARITIES)
            says = f"{name} groups by {units}" if resource.fields[name].sql_type == "timestamptz" else ""
            raise _bad("group_by", f"{part[:100]!r}: {says or f'only date-time fields group by {units}'}")
        if any(k[0] == name for k in keys):
            raise _bad("group_by", f"{name!r} appears twice in 'group_by'")
        keys.append((name, unit or None))
    return tuple(keys)


def parse_aggregates(resource: Resource, text: str | None) -> tuple[tuple[str, str | None], ...]:
    if text is None:
        return ()
    if resource.aggregates is None:
        raise _bad("aggregate", f"{resource.name} declares no aggregates (resources.yaml `aggregates:`)")
    found: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in text.split(",")):
        function, _, name = part.partition(":")
        if part == "count":
            item: tuple[str, str | None] = ("count", None)
        elif function in FUNCTIONS and name:
            if name not in resource.aggregates.metrics:
                raise _not_groupable(resource, name, "aggregate")
            if not function_applies(function, resource.fields[name].sql_type):
                raise _bad("aggregate", f"{function} does not apply to {name!r} ({resource.fields[name].sql_type})")
            item = (function, name)
        else:
            raise _bad(
                "aggregate",
                f"unknown aggregate {part[:100]!r}; use count, sum:<field>, avg:<field>, min:<field>, max:<field>",
            )
        if item in found:
            raise _bad("aggregate", f"{part!r} appears twice in 'aggregate'")
        found.append(item)
    return tuple(found)


def parse_search(resource: Resource, text: str | None) -> str | None:
    if text is None:
        return None
    if resource.search is None:
        raise _bad("q", f"{resource.name} declares no full-text search (resources.yaml `search:`)")
    if not text.strip() or len(text) > MAX_SEARCH or "\x00" in text:
        raise _bad("q", f"'q' must be 1 to {MAX_SEARCH} characters of text")
    return text


def parse_power(
    resource: Resource,
    query: MultiMapping[str],
    parse_filter: Callable[[Resource, str, str], Filter],
    allowed: tuple[str, ...] = PARAMETERS,
) -> Mapping[str, Any]:
    """The ListQuery fields these parameters set (engine.resources.listing.ListQuery); parameters
    not `allowed` on the route are left to the filter parser, which refuses them as unknown."""
    if allowed != PARAMETERS:
        query = MultiDict((k, v) for k, v in query.items() if k not in PARAMETERS or k in allowed)
    group_by = parse_group_by(resource, _single(query, "group_by"))
    aggregates = parse_aggregates(resource, _single(query, "aggregate"))
    if group_by and not aggregates:
        aggregates = (("count", None),)
    search = parse_search(resource, _single(query, "q"))
    if aggregates:
        for other in ("sort", "cursor", "limit", "fields", "include", "count"):
            if other in query:
                raise _bad(other, f"'{other}' does not apply to aggregates (group_by/aggregate)")
    return {
        "where": parse_boolean(resource, query, parse_filter),
        "count": parse_count(_single(query, "count")),
        "group_by": group_by,
        "aggregates": aggregates,
        "search": search,
        "ranked": search is not None and "sort" not in query,
    }
