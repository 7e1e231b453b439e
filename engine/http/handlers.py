"""Generated REST handlers: the same five handlers serve every resource in the spec."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine.features.relations.includes import parse_include
from engine.features.relations.service import RELATIONS
from engine.http.body import read_object
from engine.http.etag import if_match, item_tag
from engine.http.keys import CONFIG, IDENTITY, MANAGERS, PLUGINS
from engine.http.query import parse_fields, parse_list_query
from engine.http.responses import json_response
from engine.kernel.errors import Forbidden, Unauthorized
from engine.kernel.plugins import call_all
from engine.resources.listing import ListQuery
from engine.resources.manager import ResourceManager
from engine.spec import Resource

LIST_QUERIES_KEPT = 512
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


async def authorize(request: web.Request, resource: Resource, action: str) -> ResourceManager:
    """Role check through the `authorize` hook (row-level rules are SQL predicates later on);
    returns the resource's manager."""
    identity = request[IDENTITY]
    answers = await call_all(
        request.app[PLUGINS].hook.authorize, request=request, resource=resource, action=action, identity=identity
    )
    if False in answers:
        if identity is None:
            raise Unauthorized(f"sign in to {action} {resource.name}", headers=BEARER_CHALLENGE)
        raise Forbidden(f"your roles do not allow {action} on {resource.name}")
    return request.app[MANAGERS][resource.name]


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
            web.get(self.base, self.list, allow_head=False),
            web.post(self.base, self.create),
            web.get(item, self.read, allow_head=False),
            web.patch(item, self.update),
            web.delete(item, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "list")
        query = self._list_query(request)
        embedding = request.app[RELATIONS].plan(self.resource, query.include, query.fields)
        rows, next_cursor = await manager.list(embedding.widen(query), request[IDENTITY])
        await embedding.attach(request, rows)
        headers = {}
        if next_cursor is not None:
            headers["Link"] = f'<{request.path}?{_with_cursor(request, next_cursor)}>; rel="next"'
        body = {"data": rows, "meta": {"limit": query.limit, "next_cursor": next_cursor}}
        return json_response(body, headers=headers)

    async def read(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "read")
        fields = parse_fields(self.resource, request.query)
        embedding = request.app[RELATIONS].plan(self.resource, parse_include(request.query), fields)
        row = await manager.get(request.match_info["id"], request[IDENTITY], embedding.fields)
        await embedding.attach(request, [row])
        return json_response({"data": row}, headers={"ETag": item_tag(row)})

    async def create(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "create")
        data = await read_object(request, request.app[CONFIG].body_limit)
        return created_response(self.resource, await manager.create(data, request[IDENTITY]))

    async def update(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "update")
        data = await read_object(request, request.app[CONFIG].body_limit)
        row = await manager.update(request.match_info["id"], data, request[IDENTITY], expect=if_match(request))
        return json_response({"data": row}, headers={"ETag": item_tag(row)})

    async def delete(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "delete")
        await manager.delete(request.match_info["id"], request[IDENTITY], expect=if_match(request))
        return web.Response(status=204)
