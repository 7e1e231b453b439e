"""GET /api/events: the outbox as a list, with the list query language, `count=` and the read rules.

The events table is described as a (synthetic) resource, so filters, sort, cursors, `fields` and
limits behave exactly as on any resource list, and its SQL goes through the same query shapes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine.db.rows import as_dicts
from engine.features.events.runtime import EVENTS
from engine.features.events.tables import EVENTS_RESOURCE
from engine.features.events.visibility import visibility_for
from engine.http.handlers import BEARER_CHALLENGE, add_count
from engine.http.keys import CONFIG, IDENTITY, READS
from engine.http.query import parse_list_query
from engine.http.responses import json_response
from engine.kernel.errors import Unauthorized
from engine.resources import cursor as cursors


async def history(request: web.Request) -> web.Response:
    if request[IDENTITY] is None:
        raise Unauthorized("sign in to read events", headers=BEARER_CHALLENGE)
    config = request.app[CONFIG]
    query = parse_list_query(
        EVENTS_RESOURCE, request.query, page_size=config.page_size, max_page_size=config.max_page_size, power=COUNTS
    )
    visibility = await visibility_for(request, None)
    rule = visibility.predicate()
    predicates = (rule,) if rule is not None else ()
    wanted = query.fields or EVENTS_RESOURCE.columns
    hidden = tuple(k.field for k in query.sort if k.field not in wanted)
    values: dict[str, Any] = {f"f{i}": f.value for i, f in enumerate(query.filters)}
    cursor_nulls = None
    if query.cursor is not None:
        positions = cursors.decode(EVENTS_RESOURCE, query.sort, query.cursor)
        cursor_nulls = tuple(v is None for v in positions)
        values.update({f"c{i}": v for i, v in enumerate(positions)})
    for predicate in predicates:
        values.update(predicate.params)
    values["limit"] = query.limit + 1
    compiled = request.app[EVENTS].history.list(
        query.filters, query.sort, tuple(wanted) + hidden, cursor_nulls, predicates
    )
    records = await request.app[READS].fetch(compiled.sql, *compiled.args(values))  # a replica may answer
    rows = as_dicts(records[: query.limit])
    next_cursor = cursors.encode(EVENTS_RESOURCE, query.sort, rows[-1]) if len(records) > query.limit else None
    for row in rows:
        for name in hidden:
            del row[name]
    headers: dict[str, str] = {}
    if next_cursor is not None:
        params = [(k, v) for k, v in request.query.items() if k != "cursor"] + [("cursor", next_cursor)]
        headers["Link"] = f'<{request.path}?{urlencode(params)}>; rel="next"'
    body = {"data": rows, "meta": {"limit": query.limit, "next_cursor": next_cursor}}
    rows_of = _EventRows(request.app[EVENTS].history, request.app[READS])
    await add_count(request, rows_of, query, (body, headers), predicates)  # count= / Prefer: count=, as on lists
    return json_response(body, headers=headers)


COUNTS = ("count",)  # of the list's extra parameters, only count= applies to events


class _EventRows:
    """What a count needs of a resource's manager (engine.resources.query_power.count), for the events
    table: its statements, where it reads, and no field rules (the visibility rule is the predicate)."""

    resource = EVENTS_RESOURCE

    def __init__(self, queries: Any, reads: Any):
        self.queries, self.reads = queries, reads

    async def masks(self, identity: Any) -> tuple:
        return ()
