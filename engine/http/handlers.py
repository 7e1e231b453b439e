"""Generated REST handlers: the same five handlers serve every resource in the spec."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine.db.pool import one_connection
from engine.http.body import read_object
from engine.http.etag import body_tag, item_tag, write_preconditions
from engine.http.json_reads import read_json
from engine.http.keys import CONFIG, IDENTITY, MANAGERS, PLUGINS, WRITE_SHARED
from engine.http.query import parse_fields, parse_include, parse_list_query, refuse_parameters
from engine.http.query_power import prefer_count
from engine.http.responses import json_response
from engine.kernel.errors import BadRequest
from engine.kernel.hooks import call_first
from engine.resources.access import BEARER_CHALLENGE, require
from engine.resources.context import WriteContext
from engine.resources.listing import IncludePlan, ListQuery, NoIncludes
from engine.resources.manager import ResourceManager
from engine.resources.query_power import Countable, aggregate, count
from engine.spec import Resource
from engine.sql.queries import Predicate

LIST_QUERIES_KEPT = 512
_NOTHING = nullcontext()  # a read without includes is one statement: nothing to share
__all__ = [
    "BEARER_CHALLENGE",
    "ResourceHandlers",
    "add_count",
    "authorize",
    "created_response",
    "plan_includes",
    "write_context",
    "write_shared",
]


async def authorize(request: web.Request, resource: Resource, action: str) -> ResourceManager:
    """The caller's roles must allow `action` (engine.resources.access); returns the resource's manager."""
    await require(request.app[PLUGINS], request, resource, action, request[IDENTITY])
    return request.app[MANAGERS][resource.name]


def write_shared(request: web.Request) -> dict:
    """The state a request's writes share (WriteContext.shared): middlewares put theirs here."""
    shared = request.get(WRITE_SHARED)
    if shared is None:
        shared = request[WRITE_SHARED] = {}
    return shared


def write_context(request: web.Request) -> WriteContext:
    """A write's context, sharing the request's state with its other writes and the middlewares."""
    return WriteContext(request[IDENTITY], write_shared(request))


async def plan_includes(
    request: web.Request, resource: Resource, names: tuple[str, ...], fields: tuple[str, ...] | None
) -> IncludePlan:
    """The `plan_includes` hook's plan; nothing to plan without includes (no hook call)."""
    if not names:
        return NoIncludes(fields)
    hook = request.app[PLUGINS].hook.plan_includes
    plan = await call_first(hook, app=request.app, resource=resource, names=names, fields=fields)
    if plan is None:
        raise BadRequest(f"{resource.name} has nothing to include (include={','.join(names)})")
    return plan


async def joined_includes(request: web.Request, plan: IncludePlan, resource: Resource) -> Any | None:
    """The plan's first includes as columns of the rows' own statement, when it offers that
    (`joined`, optional in an IncludePlan: engine.resources.listing) and can; else None."""
    joining = getattr(plan, "joined", None)
    return await joining(request, resource) if joining is not None else None


async def embedded_page(
    request: web.Request,
    plan: IncludePlan,
    resource: Resource,
    manager: ResourceManager,
    query: ListQuery,
    predicates: tuple[Predicate, ...] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of rows with what `plan` embeds, and the next page's cursor: the first level of
    includes as columns of the page's own statement when the plan can (`joined`), deeper levels
    one statement each. Run it inside `one_connection()`."""
    joined = await joined_includes(request, plan, resource)
    extra = None if joined is None else joined.columns
    rows, next_cursor = await manager.list(plan.widen(query), request[IDENTITY], None, predicates, extra)
    await (plan.attach if joined is None else joined.attach)(request, rows)
    return rows, next_cursor


async def list_page(
    request: web.Request,
    resource: Resource,
    manager: ResourceManager,
    query: ListQuery,
    predicates: tuple[Predicate, ...] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of rows with what `include` embeds, all on one pooled connection, and the next page's cursor."""
    if not query.include:
        return await manager.list(query, request[IDENTITY], predicates=predicates)
    plan = await plan_includes(request, resource, query.include, query.fields)
    async with one_connection():
        return await embedded_page(request, plan, resource, manager, query, predicates)


def created_response(resource: Resource, row: dict[str, Any]) -> web.Response:
    """The 201 for a created row; idempotency keys store the same response inside the write's transaction."""
    headers = {"Location": f"/api/{resource.name}/{row[resource.primary_key]}", "ETag": item_tag(row)}
    return json_response({"data": row}, status=201, headers=headers)


def _with_cursor(request: web.Request, cursor: str) -> str:
    """The request's query string with `cursor` replaced (cursors are URL-safe base64: no quoting)."""
    kept = [part for part in request.rel_url.raw_query_string.split("&") if part and part.partition("=")[0] != "cursor"]
    if len(kept) + len(request.query.getall("cursor", ())) != len(request.query):  # an encoded name: slow path
        params = [(k, v) for k, v in request.query.items() if k != "cursor"]
        return urlencode([*params, ("cursor", cursor)])
    return "&".join([*kept, f"cursor={cursor}"])


def _timeout_ms(request: web.Request) -> int:
    """The statement deadline of a count or an aggregate: its own, never past the request's (0: none)."""
    config = request.app[CONFIG]
    limits = [t for t in (config.value("ENGINE_AGGREGATE_TIMEOUT"), config.value("ENGINE_REQUEST_TIMEOUT")) if t]
    return max(1, int(min(limits) * 1000)) if limits else 0


async def count_rows(
    request: web.Request,
    manager: Countable,
    query: ListQuery,
    mode: str,
    predicates: tuple[Predicate, ...] | None = None,
) -> tuple[int, str]:
    """`meta.total` and `meta.total_is` of a list with count=exact|estimated|planned; `predicates`
    replaces the caller's list predicates (soft_delete's ?deleted=only)."""
    threshold = request.app[CONFIG].value("ENGINE_COUNT_EXACT_BELOW")
    return await count(
        manager,
        query,
        request[IDENTITY],
        mode,
        threshold=threshold,
        timeout_ms=_timeout_ms(request),
        predicates=predicates,
    )


async def add_count(
    request: web.Request,
    manager: Countable,
    query: ListQuery,
    page: tuple[dict[str, Any], dict[str, str]],
    predicates: tuple[Predicate, ...] | None = None,
) -> None:
    """`meta.total` when `count=` or `Prefer: count=` asks for it (the parameter wins); a `Prefer` the
    list honours is named in `Preference-Applied`, and every row list says it varies with `Prefer`
    (RFC 7240). `page` is the list's (body, headers); `predicates` as in `count_rows`."""
    body, headers = page
    headers["Vary"] = "Prefer"
    preferred = prefer_count(request.headers)
    mode = query.count or preferred
    if mode is None:
        return
    body["meta"]["total"], body["meta"]["total_is"] = await count_rows(request, manager, query, mode, predicates)
    if mode == preferred:
        headers["Preference-Applied"] = f"count={mode}"


async def aggregate_rows(
    request: web.Request,
    manager: ResourceManager,
    query: ListQuery,
    predicates: tuple[Predicate, ...] | None = None,
) -> list[dict[str, Any]]:
    """The groups of a list with group_by= / aggregate=; `predicates` as in `count_rows`."""
    limit = request.app[CONFIG].value("ENGINE_AGGREGATE_MAX_GROUPS")
    return await aggregate(
        manager, query, request[IDENTITY], max_groups=limit, timeout_ms=_timeout_ms(request), predicates=predicates
    )


class ResourceHandlers:
    def __init__(self, resource: Resource):
        self.resource = resource
        self.base = f"/api/{resource.name}"
        self._list_queries: dict[str, ListQuery] = {}  # raw query string -> its parse (immutable)

    def _list_query(self, request: web.Request) -> ListQuery:
        """Parsed once per distinct query string: list views repeat the same few (errors are not kept)."""
        raw = request.rel_url.raw_query_string
        query = self._list_queries.get(raw)
        if query is None:
            config = request.app[CONFIG]
            query = parse_list_query(
                self.resource, request.query, page_size=config.page_size, max_page_size=config.max_page_size
            )
            if len(self._list_queries) >= LIST_QUERIES_KEPT:
                self._list_queries.clear()
            self._list_queries[raw] = query
        return query

    def routes(self) -> list[web.RouteDef]:
        item = self.base + "/{id}"
        return [
            web.get(self.base, self.list),
            web.post(self.base, self.create),
            web.get(item, self.read),
            web.patch(item, self.update),
            web.delete(item, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "list")
        query = self._list_query(request)
        if query.aggregates:  # group_by= / aggregate=: groups instead of rows (engine.resources.query_power)
            return json_response({"data": await aggregate_rows(request, manager, query)})
        rows, next_cursor = await list_page(request, self.resource, manager, query)
        headers = {}
        if next_cursor is not None:
            headers["Link"] = f'<{request.path}?{_with_cursor(request, next_cursor)}>; rel="next"'
        body = {"data": rows, "meta": {"limit": query.limit, "next_cursor": next_cursor}}
        await add_count(request, manager, query, (body, headers))
        return json_response(body, headers=headers)

    async def read(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "read")
        fields = parse_fields(self.resource, request.query)
        include = parse_include(request.query)
        if not include:  # the switch to JSON written by PostgreSQL (engine/http/json_reads.py)
            answer = await read_json(manager, request.match_info["id"], request[IDENTITY], fields)
            if answer is not None:
                return answer
        embedding = await plan_includes(request, self.resource, include, fields)
        joined = await joined_includes(request, embedding, self.resource)
        async with one_connection() if include else _NOTHING:  # the row and its includes: one connection
            extra = None if joined is None else joined.columns  # the row and its first includes: one statement
            row = await manager.get(request.match_info["id"], request[IDENTITY], embedding.fields, extra)
            await (embedding.attach if joined is None else joined.attach)(request, [row])
        if include:  # a tag If-Match could never match (it covers the embedded rows): the body's bytes
            response = json_response({"data": row})
            response.headers["ETag"] = body_tag(response.body)
            return response
        return json_response({"data": row}, headers={"ETag": item_tag(row)})

    async def create(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "create")
        refuse_parameters(request.query, "a create")
        data = await read_object(request, request.app[CONFIG].body_limit)
        context = write_context(request)
        row = await manager.create(data, context)
        return created_response(self.resource, await manager.shown(row, request[IDENTITY], context=context))

    async def update(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "update")
        refuse_parameters(request.query, "a PATCH of one row")
        data = await read_object(request, request.app[CONFIG].body_limit)
        context = write_context(request)
        row = await manager.update(request.match_info["id"], data, context, expect=write_preconditions(request))
        row = await manager.shown(row, request[IDENTITY], context=context)  # without the fields the caller may not read
        return json_response({"data": row}, headers={"ETag": item_tag(row)})

    async def delete(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "delete")
        refuse_parameters(request.query, "a DELETE of one row")
        await manager.delete(request.match_info["id"], write_context(request), expect=write_preconditions(request))
        return web.Response(status=204)
