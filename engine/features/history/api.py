"""GET /api/{resource}/{id}/versions[/{n}] and POST /api/{resource}/{id}/versions/{n}/restore.

Versions follow the row: a caller who cannot read the row now gets a 404 for its versions, and a
field the caller may not read on the row is absent from every version (secrets are never stored
in one). A restore is an update of the row to version n's values, made by the resource manager:
the same validation, field rules, hooks, domain rules, events and a new version as a PATCH.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.features.history.store import Versions
from engine.http.etag import item_tag, write_preconditions
from engine.http.handlers import authorize, write_context
from engine.http.keys import CONFIG, IDENTITY, POOL
from engine.http.query import parse_limit, refuse_parameters
from engine.http.responses import json_response
from engine.kernel.errors import BadRequest, Conflict, NotFound
from engine.kernel.identity import Identity
from engine.resources.manager import ResourceManager, as_json
from engine.spec import Resource

NEWEST = 2**62  # `before` of the first page: every version is older
PAGING = ("limit", "cursor")  # the only query parameters of the versions list; one version takes none


def restorable(resource: Resource) -> tuple[str, ...]:
    """The fields a restore puts back: what a client may write (not ids, timestamps, secrets)."""
    return tuple(
        name
        for name, field in resource.fields.items()
        if not (field.read_only or field.write_only or field.engine_managed or name == resource.primary_key)
    )


class VersionRoutes:
    """The routes of one resource that keeps history."""

    def __init__(self, resource: Resource, versions: Versions):
        self.resource, self.versions = resource, versions
        self.base = f"/api/{resource.name}/{{id}}/versions"
        self._restorable = restorable(resource)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(self.base, self.list),
            web.get(self.base + "/{version}", self.read),
            web.post(self.base + "/{version}/restore", self.restore),
        ]

    async def _row(self, request: web.Request, manager: ResourceManager) -> tuple[dict[str, Any], set[str]]:
        """The row as the caller may read it (404 when they may not), and the fields hidden from them."""
        identity: Identity | None = request[IDENTITY]
        row = await manager.get(request.match_info["id"], identity)
        hidden = {name for name, _ in await manager.masks(identity) if name not in row}
        return row, hidden

    def _shown(self, version: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
        """The version without the fields hidden from the caller, nor any secret: a version written
        before a field became `writeOnly` holds its value, which is never returned either."""
        data = version["data"]
        if data is not None:
            data = {k: v for k, v in data.items() if k not in hidden and k not in self.versions.secrets}
        return {**version, "data": data}

    def _number(self, request: web.Request) -> int:
        text = request.match_info["version"]
        if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
            raise NotFound(f"no version {text[:30]!r} of this {self.resource.name} row")
        return int(text)

    async def _version(self, request: web.Request, row: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
        number = self._number(request)
        found = await self.versions.one(request.app[POOL], row[self.resource.primary_key], number)
        if found is None:
            raise NotFound(f"no version {number} of this {self.resource.name} row")
        return self._shown(found, hidden)

    async def list(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "read")
        _known(request, PAGING)
        row, hidden = await self._row(request, manager)
        config = request.app[CONFIG]
        limit = parse_limit(request.query.get("limit"), config.page_size, config.max_page_size)
        before = _cursor(request.query.get("cursor"))
        found = await self.versions.page(request.app[POOL], row[self.resource.primary_key], before, limit + 1)
        page = [self._shown(v, hidden) for v in found[:limit]]
        next_cursor = str(page[-1]["version"]) if len(found) > limit else None
        return json_response({"data": page, "meta": {"limit": limit, "next_cursor": next_cursor}})

    async def read(self, request: web.Request) -> web.Response:
        manager = await authorize(request, self.resource, "read")
        _known(request, ())
        row, hidden = await self._row(request, manager)
        return json_response({"data": await self._version(request, row, hidden)})

    async def restore(self, request: web.Request) -> web.Response:
        """Make version n the row's values again, as an update (a new version, not a rewind)."""
        manager = await authorize(request, self.resource, "update")
        refuse_parameters(request.query, "restoring a version")
        row, hidden = await self._row(request, manager)
        version = await self._version(request, row, hidden)
        data = version["data"]
        if data is None:
            raise Conflict(f"version {version['version']} records the row's deletion: there is nothing to restore")
        current = as_json(row)
        patch = {
            name: data[name]
            for name in self._restorable
            if name in data and name not in hidden and current.get(name) != data[name]
        }
        context = write_context(request)
        context.restoring = version["version"]
        written = await manager.update(request.match_info["id"], patch, context, expect=write_preconditions(request))
        written = await manager.shown(written, request[IDENTITY])
        return json_response({"data": written}, headers={"ETag": item_tag(written)})


def _known(request: web.Request, names: tuple[str, ...]) -> None:
    """An unknown query parameter is a 400, as on every read; so is a repeated one."""
    for key in request.query:
        if key not in names:
            allowed = f"use {' or '.join(names)}" if names else "one version takes none"
            raise BadRequest(f"unknown query parameter {key[:100]!r}; {allowed}", parameter=key[:100])
        if len(request.query.getall(key)) > 1:
            raise BadRequest(f"'{key}' is given more than once", parameter=key)


def _cursor(text: str | None) -> int:
    """The cursor of a versions page is the number of its last version: the next page is older."""
    if text is None:
        return NEWEST
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("'cursor' must be the next_cursor of a previous page", parameter="cursor")
    return int(text)
