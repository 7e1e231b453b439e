"""Writes at scale over HTTP: bulk create, update and delete by filter, upserts, and the one entry
point the atomic batch (engine/features/batch) runs its operations through.

- `POST /api/{resource}` with a JSON array: create every item or none (201, rows in order).
- `PATCH|DELETE /api/{resource}?<filters>`: change every matching row the caller may change, or none.
- `PUT /api/{resource}/{id}`: create the row with this id (201) or replace it (200).
- `POST /api/{resource}?on_conflict=<unique key>` + `Prefer: resolution=merge-duplicates`: upsert.

A request and a batch operation become the same `WriteCall`, and `perform` runs it, on the
batch's connection when there is one: the same access checks, validation, hooks and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from multidict import MultiMapping

from engine.http.body import (  # the strict body's checks, for arrays
    _KEY_END,
    MAX_DEPTH,
    check_body_headers,
    has_long_digits,
    parse_json,
    parsed_fast,
    read_object,
    refuse_unstorable,
    shape_of,
)
from engine.http.etag import item_tag, write_preconditions
from engine.http.handlers import ResourceHandlers, authorize, created_response, write_context
from engine.http.keys import CONFIG
from engine.http.query import RESERVED, parse_list_query, refuse_parameters
from engine.http.query_power import BOOLEAN
from engine.http.query_power import PARAMETERS as POWER
from engine.http.responses import json_response
from engine.kernel.errors import BadRequest, PayloadTooLarge
from engine.resources.bulk import BulkWriter
from engine.resources.context import WriteContext
from engine.resources.listing import ListQuery
from engine.resources.manager import ResourceManager
from engine.resources.upsert import Upsert
from engine.spec import Resource

MAX_BATCH_ITEMS = "ENGINE_MAX_BATCH_ITEMS"
ON_CONFLICT = "on_conflict"
MERGE = "resolution=merge-duplicates"
NESTED = "relations.nested"  # WriteContext.notes: (request, {relation: items}) a create carries inline


@dataclass
class Outcome:
    """What one write answers: status, JSON body (None: no body) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        if self.body is None:
            return web.Response(status=self.status, headers=self.headers)
        return json_response(self.body, status=self.status, headers=self.headers)


@dataclass
class WriteCall:
    """One write, from an HTTP request or a batch operation: where, what, by whom."""

    request: web.Request  # the HTTP request (the `authorize` hook receives it)
    resource: Resource
    method: str
    item: str | None  # the {id} of an item path
    query: MultiMapping[str]
    body: Any
    context: WriteContext
    prefer: str = ""
    expect: Any = None  # If-Match, for single-row writes sent as their own request

    @property
    def identity(self) -> Any:
        return self.context.identity


def writer(call: WriteCall, manager: ResourceManager) -> BulkWriter:
    return BulkWriter(manager, call.request.app[CONFIG].value(MAX_BATCH_ITEMS))


async def perform(call: WriteCall, conn: asyncpg.Connection | None = None) -> Outcome:
    """Run one write the way its own request would (on `conn`, inside a batch's transaction)."""
    method, item = call.method, call.item
    if method == "POST" and item is None:
        if ON_CONFLICT in call.query:
            return await _merge(call, conn)
        if isinstance(call.body, list):
            return await _create_many(call, conn)
        return await _create_one(call, conn)
    if method == "PATCH":
        return await (_update_where(call, conn) if item is None else _update_one(call, conn))
    if method == "DELETE":
        return await (_delete_where(call, conn) if item is None else _delete_one(call, conn))
    if method == "PUT" and item is not None:
        return await _put(call, conn)
    raise BadRequest(f"{method} is not a write of {'an item' if item else 'a collection'}")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


async def _shown(manager: ResourceManager, rows: list[dict], call: WriteCall, conn: Any) -> list[dict]:
    return await writer(call, manager).shown(rows, call.identity, conn)


async def _create_one(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "create")
    refuse_parameters(call.query, "a create", (ON_CONFLICT,))
    data = _object(call.body)
    nested = {name: data.pop(name) for name in list(data) if name in call.resource.relations}
    if nested:
        return await _create_nested(call, manager, data, nested, conn)
    row = await manager.create(data, call.context, conn=conn)
    row = await manager.shown(row, call.identity, conn)
    return Outcome(201, {"data": row}, _created_headers(call.resource, row))


async def _create_nested(
    call: WriteCall, manager: ResourceManager, data: dict[str, Any], nested: dict[str, Any], conn: Any
) -> Outcome:
    """The row and the links it carries inline, in one transaction (features/relations/inline.py
    links them in the create's after_write; without that plugin nothing is written)."""
    call.context.notes[NESTED] = (call.request, nested)
    async with manager._transaction(conn) as tx:
        row = await manager.create(data, call.context, conn=tx)
        if NESTED in call.context.notes:
            names = ", ".join(nested)
            raise BadRequest(f"{names} cannot be created inline: the relations plugin is disabled")
        row = await manager.shown(row, call.identity, tx)
    return Outcome(201, {"data": row}, _created_headers(call.resource, row))


def _created_headers(resource: Resource, row: dict[str, Any]) -> dict[str, str]:
    headers = created_response(resource, row).headers
    return {name: headers[name] for name in ("Location", "ETag")}


async def _create_many(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "create")
    refuse_parameters(call.query, "a create", (ON_CONFLICT,))
    rows = await writer(call, manager).create_many(call.body, call.context, conn)
    return Outcome(201, {"data": await _shown(manager, rows, call, conn)})


def _filters(call: WriteCall) -> ListQuery:
    """The query string's filters and boolean groups (`or=`, `and=`, `not=`); a bulk write needs at
    least one and takes nothing else (`q=` would narrow the rows changed: refused, never ignored)."""
    for name in call.query:
        if name in RESERVED or (name in POWER and name not in BOOLEAN):
            raise BadRequest(
                f"'{name}' is not accepted on a bulk {call.method}; send filters (and or/and/not groups) only",
                parameter=name,
            )
    config = call.request.app[CONFIG]
    query = parse_list_query(call.resource, call.query, page_size=config.page_size, max_page_size=config.max_page_size)
    if not query.filters and not query.where:
        raise BadRequest(
            f"a bulk {call.method} needs at least one filter (e.g. ?id[in]=...); "
            f"to change every row, say so with a filter that matches them all"
        )
    return query


async def _update_where(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "update")
    query, patch = _filters(call), _object(call.body)
    rows = await writer(call, manager).update_where(query, patch, call.context, conn)
    return Outcome(200, {"data": await _shown(manager, rows, call, conn)})


async def _delete_where(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "delete")
    rows = await writer(call, manager).delete_where(_filters(call), call.context, conn)
    return Outcome(200, {"meta": {"count": len(rows)}})


async def _update_one(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "update")
    refuse_parameters(call.query, "a PATCH of one row")
    row = await manager.update(call.item, _object(call.body), call.context, expect=call.expect, conn=conn)
    row = await manager.shown(row, call.identity, conn)
    return Outcome(200, {"data": row}, {"ETag": item_tag(row)})


async def _delete_one(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "delete")
    refuse_parameters(call.query, "a DELETE of one row")
    await manager.delete(call.item, call.context, expect=call.expect, conn=conn)
    return Outcome(204)


async def _put(call: WriteCall, conn: Any) -> Outcome:
    manager = await authorize(call.request, call.resource, "update")
    refuse_parameters(call.query, "a PUT")

    async def may_create() -> None:
        await authorize(call.request, call.resource, "create")

    put = writer(call, manager).put
    row, created = await put(call.item, _object(call.body), call.context, may_create, conn, expect=call.expect)
    row = await manager.shown(row, call.identity, conn)
    if created:
        return Outcome(201, {"data": row}, _created_headers(call.resource, row))
    return Outcome(200, {"data": row}, {"ETag": item_tag(row)})


def _conflict_keys(call: WriteCall) -> tuple[str, ...]:
    refuse_parameters(call.query, "an upsert", (ON_CONFLICT,))
    text = call.query.get(ON_CONFLICT, "")
    keys = tuple(k.strip() for k in text.split(","))
    declared = [tuple(cols) for cols in call.resource.unique] + [(call.resource.primary_key,)]
    if not any(set(keys) == set(cols) and len(keys) == len(cols) for cols in declared):
        shown = "; ".join(",".join(cols) for cols in declared)
        raise BadRequest(f"on_conflict must name a unique key of {call.resource.name} ({shown})", parameter=ON_CONFLICT)
    if MERGE not in call.prefer.replace(" ", ""):
        raise BadRequest(f"on_conflict needs the header 'Prefer: {MERGE}'", parameter=ON_CONFLICT)
    return keys


async def _merge(call: WriteCall, conn: Any) -> Outcome:
    keys = _conflict_keys(call)
    manager = await authorize(call.request, call.resource, "create")
    await authorize(call.request, call.resource, "update")
    many = isinstance(call.body, list)
    items = call.body if many else [_object(call.body)]
    results = await Upsert(writer(call, manager), keys).run(items, call.context, conn)
    rows = await _shown(manager, [row for row, _ in results], call, conn)
    if many:
        return Outcome(200 if not any(created for _, created in results) else 201, {"data": rows})
    return Outcome(201 if results[0][1] else 200, {"data": rows[0]})


# --- the HTTP side -----------------------------------------------------------------------------


async def read_document(request: web.Request, limit: int) -> Any:
    """The body as a JSON object or array, as strictly as `read_object` reads objects (and as fast:
    orjson's parse is kept when it provably equals the strict parser's)."""
    check_body_headers(request, limit)
    raw = await request.read()
    if not raw.lstrip().startswith(b"["):
        return await read_object(request, limit)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    long_digits = has_long_digits(raw)  # once: a scan of the whole body
    document, depth = _fast_array(raw, long_digits, request)
    if depth > MAX_DEPTH:
        raise BadRequest(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels")
    # The escape scans are slow on a large body, and most have no escape at all.
    refuse_unstorable(document, raw, escapes=b"\\u" in raw, long_digits=long_digits)
    return document


def _fast_array(raw: bytes, long_digits: bool, request: web.Request) -> tuple[Any, int]:
    """(document, depth): orjson's parse when no key can have been given twice and no integer
    rounded (body.py explains the test; `long_digits`: the body has a 19-digit run), else the
    strict parser's."""
    if not long_digits:
        fast = parsed_fast(request, raw)
        if fast is not None and isinstance(fast[0], list) and fast[1].keys == len(_KEY_END.findall(raw)):
            return fast[0], fast[1].depth
    document = parse_json(raw)
    return document, shape_of(document).depth


async def sends_array(request: web.Request) -> bool:
    """Whether a POST carries a JSON array (a bulk create); the body is read once and kept."""
    return request.body_exists and (await request.read()).lstrip().startswith(b"[")


def keyed_write(handler: Any) -> Any:
    """Mark a handler whose requests Idempotency-Key covers (features/idempotency asks `is_keyed`)."""
    handler.keyed_write = True
    return handler


def is_keyed(request: web.Request) -> bool:
    return getattr(request.match_info.handler, "keyed_write", False)


class WriteHandlers(ResourceHandlers):
    """The generated handlers plus the writes of many rows and upserts (same routes, more methods)."""

    def routes(self) -> list[web.RouteDef]:
        item = self.base + "/{id}"
        return [
            *super().routes(),
            web.patch(self.base, self.update_many),
            web.delete(self.base, self.delete_many),
            web.put(item, self.put),
        ]

    def _call(self, request: web.Request, body: Any, item: str | None = None) -> WriteCall:
        return WriteCall(
            request,
            self.resource,
            request.method,
            item,
            request.query,
            body,
            write_context(request),
            prefer=request.headers.get("Prefer", ""),
        )

    async def create(self, request: web.Request) -> web.Response:
        if ON_CONFLICT not in request.query and not await sends_array(request) and not self.resource.relations:
            return await super().create(request)
        body = await read_document(request, request.app[CONFIG].body_limit)
        return (await perform(self._call(request, body))).response()

    @keyed_write
    async def update_many(self, request: web.Request) -> web.Response:
        body = await read_object(request, request.app[CONFIG].body_limit)
        return (await _update_where(self._call(request, body), None)).response()

    @keyed_write
    async def delete_many(self, request: web.Request) -> web.Response:
        return (await _delete_where(self._call(request, None), None)).response()

    @keyed_write
    async def put(self, request: web.Request) -> web.Response:
        body = await read_object(request, request.app[CONFIG].body_limit)
        call = self._call(request, body, request.match_info["id"])
        call.expect = write_preconditions(request)  # as a PATCH checks them: If-Match, If-None-Match
        return (await _put(call, None)).response()
