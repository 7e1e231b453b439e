"""`GET /api/{resource}?deleted=only` and `POST /api/{resource}/{id}/restore` for soft-deleting resources.

Both are for callers who may update the rows: the resource's update roles, then its update rules
as SQL predicates, with "not deleted" turned into "deleted". A restore is an update of
`deleted_at` back to null, inside one transaction with the write hooks (events, history, caches
see an update); a unique value another row took meanwhile makes it a 409.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import asyncpg
from aiohttp import web
from multidict import MultiDict

from engine.features.soft_delete.rows import Rows, deleted_only
from engine.http.etag import item_tag, write_preconditions
from engine.http.handlers import add_count, aggregate_rows, authorize, list_page, write_context
from engine.http.keys import CONFIG, IDENTITY, PLUGINS, POOL
from engine.http.middleware import after_authentication, for_routes
from engine.http.query import parse_list_query, refuse_parameters
from engine.http.responses import json_response
from engine.http.routes import resource_action, route_action
from engine.kernel.errors import BadRequest, Conflict
from engine.kernel.hooks import call_all
from engine.resources.context import WriteContext
from engine.resources.manager import ResourceManager
from engine.resources.references import dead_columns
from engine.spec import Resource
from engine.sql.queries import bind_predicates

PARAMETER = "deleted"


def _soft_deleting_list(route: web.AbstractRoute) -> bool:
    found = route_action(route)
    return found is not None and found[1] == "list" and found[0].soft_delete is not None


@after_authentication
@for_routes(_soft_deleting_list)
@web.middleware
async def deleted_rows(request: web.Request, handler) -> web.StreamResponse:
    """Serve `?deleted=only` on the list route of a soft-deleting resource (the list parser knows no `deleted`)."""
    if PARAMETER not in request.query:
        return await handler(request)
    route = resource_action(request)
    if route is None or route[1] != "list" or route[0].soft_delete is None:
        return await handler(request)
    return await list_deleted(request, route[0])


async def list_deleted(request: web.Request, resource: Resource) -> web.Response:
    if request.query.getall(PARAMETER) != ["only"]:
        raise BadRequest("'deleted' takes one value, 'only': the rows deleted and not yet purged", parameter=PARAMETER)
    await authorize(request, resource, "list")
    manager = await authorize(request, resource, "update")
    config, identity = request.app[CONFIG], request[IDENTITY]
    rest = MultiDict((k, v) for k, v in request.query.items() if k != PARAMETER)
    query = parse_list_query(resource, rest, page_size=config.page_size, max_page_size=config.max_page_size)
    predicates = deleted_only(resource, await manager.predicates("update", identity))
    if query.aggregates:  # group_by= / aggregate= over the deleted rows, as on every list
        return json_response({"data": await aggregate_rows(request, manager, query, predicates)})
    rows, next_cursor = await list_page(request, resource, manager, query, predicates)
    headers = {}
    if next_cursor is not None:  # as on every list: the next page's URL
        kept = [(k, v) for k, v in request.query.items() if k != "cursor"]
        headers["Link"] = f'<{request.path}?{urlencode([*kept, ("cursor", next_cursor)])}>; rel="next"'
    body = {"data": rows, "meta": {"limit": query.limit, "next_cursor": next_cursor}}
    await add_count(request, manager, query, (body, headers), predicates)  # count= / Prefer: count=, as on every list
    return json_response(body, headers=headers)


class RestoreRoute:
    def __init__(self, resource: Resource):
        self.resource = resource
        self.rows = Rows(resource)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/api/{self.resource.name}/{{id}}/restore", self.restore)]

    async def restore(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "update")
        refuse_parameters(request.query, "a restore")
        context = write_context(request)
        record = await self._revive(request, manager, context)
        record = await manager.shown(record, context.identity)
        return json_response({"data": record}, headers={"ETag": item_tag(record)})

    async def _revive(self, request: web.Request, manager: ResourceManager, context: WriteContext) -> dict[str, Any]:
        pk = manager.parse_pk(request.match_info["id"])
        predicates = deleted_only(self.resource, await manager.predicates("update", context.identity))
        expect = write_preconditions(request)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            context.conn = conn
            locked = manager.queries.get(predicates, self.resource.columns, lock=True)
            found = await conn.fetchrow(locked.sql, *locked.args(bind_predicates(predicates, {"pk": pk})))
            if found is None:
                raise manager.not_found(request.match_info["id"])
            previous = dict(found)
            if expect is not None:
                expect(previous)
            change = {self.rows.column: None}
            await self._hook(request, "before_write", context, data=change, previous=previous)
            revive = self.rows.revive(manager.queries.live)
            try:
                revived = await conn.fetchrow(revive.sql, *revive.args({"pk": pk}))
            except asyncpg.UniqueViolationError:
                raise Conflict(
                    f"another {self.resource.name} row took a unique value of this one since it was deleted"
                ) from None
            if revived is None:  # the row is locked: a reference of it points at a deleted row
                raise await self._orphan(manager, conn, previous)
            record = dict(revived)
            await self._hook(request, "after_write", context, record=record, previous=previous)
        return record

    async def _orphan(self, manager: ResourceManager, conn: asyncpg.Connection, row: dict[str, Any]) -> Conflict:
        """The 409 of a row that would come back pointing at a deleted row: restore that one first."""
        names = await dead_columns(manager, conn, [row]) or [ref.column for ref in manager.queries.live]
        refs = self.resource.references
        which = ", ".join(f"{refs[name].resource} ({name})" for name in names)
        return Conflict(
            f"this {self.resource.name} row references a deleted row of {which}: restore that row first",
            fields=names,
        )

    async def _hook(self, request: web.Request, name: str, context: WriteContext, **values: Any) -> None:
        """The write hooks of an update, as the resource manager calls them."""
        hook = getattr(request.app[PLUGINS].hook, name)
        await call_all(
            hook,
            context=context,
            conn=context.conn,
            resource=self.resource,
            action="update",
            identity=context.identity,
            **values,
        )
