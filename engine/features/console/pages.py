"""The console's pages: server-rendered from the spec; the rows in them come from the REST API.

Each page is a template filled from the spec (fields, operators, forms). The browser then asks the
engine's own API for the data, with the signed-in session (and its CSRF token on writes), so what
a person sees and may do in the console is exactly what the API answers to them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import asyncpg
import jinja2
import orjson
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlglot import exp

from engine.features.console import query as console_query
from engine.features.console.fields import OPERATOR_LABELS, ResourceView
from engine.features.console.static import asset_urls
from engine.features.openapi import document_for
from engine.features.openapi.coverage import route_path
from engine.features.sessions import store as sessions
from engine.http.keys import IDENTITY, MANAGERS, PLUGINS, POOL, SPEC
from engine.kernel.errors import Forbidden, NotFound, Problem
from engine.kernel.identity import Identity
from engine.migrations import read_all
from engine.migrations.runner import BOOKKEEPING
from engine.resources.access import require
from engine.sql.ddl import column, table
from engine.sql.ddl import render as render_sql

BASE = "/console"
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
VIEWS = web.AppKey("console_views", dict)  # resource name -> ResourceView
GOOGLE_SIGN_IN = web.AppKey("console_google_sign_in", bool)
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
DECLARED = web.AppKey("console_declared", dict)  # resource name -> its resources.yaml block, as YAML text
_APPLIED = render_sql(exp.select(column("name")).from_(table(BOOKKEEPING)))


async def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """A console page: the signed-in user, the session's CSRF token, the asset URLs, and `context`."""
    session = await sessions.get_session(request)
    identity = request[IDENTITY]
    base = {
        "identity": identity,
        "csrf_token": sessions.csrf_token(session),
        "static": asset_urls(),
        "resources": await listable(request) if identity is not None else [],
    }
    response = aiohttp_jinja2.render_template(
        f"console/{template}", request, {**base, **context}, app_key=TEMPLATES, status=status
    )
    response.headers.update(PAGE_HEADERS)
    return response


def person_facing(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Handler:
    """A page's refusal (403, 404) as an HTML page that says why, not as JSON."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (Forbidden, NotFound) as problem:
            context = {"page": "problem", "problem": problem}
            return await render(request, "problem.html", context, status=problem.status)

    return page


def signed_in(request: web.Request) -> Identity:
    identity = request[IDENTITY]
    if identity is None:
        raise web.HTTPFound(f"{BASE}/signin?next={quote(request.path_qs, safe='')}")
    return identity


async def allowed(request: web.Request, view: ResourceView, action: str) -> bool:
    """Whether the API would let this caller `action` the resource (the same `authorize` hook)."""
    resource = request.app[SPEC].resources[view.name]
    try:
        await require(request.app[PLUGINS], request, resource, action, request[IDENTITY])
    except Problem:
        return False
    return True


def view_of(request: web.Request) -> ResourceView:
    view = request.app[VIEWS].get(request.match_info["resource"])
    if view is None:
        raise NotFound(f"no resource {request.match_info['resource'][:100]!r} in this console")
    return view


async def listable(request: web.Request) -> list[ResourceView]:
    """The resources the caller's roles let them list (the navigation and the home page)."""
    return [view for view in request.app[VIEWS].values() if await allowed(request, view, "list")]


@person_facing
async def home(request: web.Request) -> web.Response:
    signed_in(request)
    return await render(request, "home.html", {"page": "home"})


async def list_features(app: web.Application, name: str) -> set[str]:
    """The list route's optional query parameters this engine has (search `q`, `count`), from OpenAPI."""
    document = await document_for(app)
    operation = document["paths"].get(f"/api/{name}", {}).get("get", {})
    names = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"].get(parameter["$ref"].rsplit("/", 1)[-1], {})
        names.add(parameter.get("name"))
    return names & {"q", "count"}


@person_facing
async def table_page(request: web.Request) -> web.Response:
    signed_in(request)
    view = view_of(request)
    canonical = console_query.from_form(view, request.query)
    if canonical is not None:
        raise web.HTTPFound(f"{BASE}/r/{view.name}" + (f"?{canonical}" if canonical else ""))
    if not await allowed(request, view, "list"):
        raise Forbidden(f"you may not list {view.name}")
    features = await list_features(request.app, view.name)
    columns = console_query.shown_columns(view, request.query)
    sort_links = {c: console_query.sort_link(request.query, c) for c in columns}
    context = {
        "page": "table",
        "view": view,
        "columns": columns,
        "sort_links": sort_links,
        "filters": console_query.filter_rows(request.query),
        "search": request.query.get("q", "") if "q" in features else None,
        "counts": "count" in features,
        "api_query": request.query_string,
        "sort": request.query.get("sort", ""),
        "can_create": await allowed(request, view, "create"),
        "operator_labels": OPERATOR_LABELS,
        "operators_json": orjson.dumps(
            {f.name: [[op, OPERATOR_LABELS.get(op, op)] for op in f.operators] for f in view.filterable}
        ).decode(),
        "api_query_without_cursor": console_query.with_params(request.query, ()),
    }
    return await render(request, "table.html", context)


async def require_readable_row(request: web.Request, view: ResourceView) -> frozenset[str]:
    """The row in the URL must be one the API would give this caller, else the page is the same 404
    (no such row, or not theirs to read). One lookup by key, under the caller's read rules; the
    page's script then reads the row itself from the API. Returns the fields the caller's field
    rules hide in this row (the page leaves them out altogether, not just their values)."""
    if not await allowed(request, view, "read"):
        raise Forbidden(f"you may not read {view.name}")
    manager = request.app[MANAGERS][view.name]
    ruled = tuple(name for name, _ in await manager.masks(request[IDENTITY]))
    row = await manager.get(request.match_info["id"], request[IDENTITY], (view.primary_key, *ruled))
    return frozenset(ruled) - row.keys()


@person_facing
async def row_page(request: web.Request) -> web.Response:
    signed_in(request)
    view = view_of(request)
    hidden = await require_readable_row(request, view)
    context = {
        "page": "row",
        "view": view,
        "shown": tuple(f for f in view.readable if f.name not in hidden),
        "row_id": request.match_info["id"],
        "can_update": await allowed(request, view, "update"),
        "can_delete": await allowed(request, view, "delete"),
    }
    return await render(request, "row.html", context)


@person_facing
async def form_page(request: web.Request) -> web.Response:
    signed_in(request)
    view = view_of(request)
    row_id = request.match_info.get("id")
    action = "create" if row_id is None else "update"
    if not await allowed(request, view, action):
        raise Forbidden(f"you may not {action} {view.name}")
    if row_id is not None:
        await require_readable_row(request, view)
    context = {"page": "form", "view": view, "row_id": row_id, "creating": row_id is None}
    return await render(request, "form.html", context)


@person_facing
async def admin_page(request: web.Request) -> web.Response:
    identity = signed_in(request)
    if not identity.is_admin:
        raise Forbidden("the admin page is for admins")
    spec = request.app[SPEC]
    files = [m.name for m in read_all(os.path.join(spec.root, "migrations"))]
    applied = await applied_migrations(request.app)
    routes = sorted({(r.method, route_path(r)) for r in request.app.router.routes() if r.method != "HEAD"})
    context = {
        "page": "admin",
        "spec": spec,
        "migrations": [(name, name in applied) for name in files],
        "unrecorded": sorted(applied - set(files)),
        "routes": routes,
        "declared": request.app[DECLARED],
    }
    return await render(request, "admin.html", context)


async def applied_migrations(app: web.Application) -> set[str]:
    try:
        rows = await app[POOL].fetch(_APPLIED)
    except asyncpg.UndefinedTableError:  # never migrated here: nothing applied
        return set()
    return {row["name"] for row in rows}


def declared_blocks(spec_path: str) -> dict[str, str]:
    """Each resource's block of resources.yaml as its authors wrote it (the admin page shows the rules
    in their own words, not as compiled objects). Read once, when the app is configured."""
    try:
        with open(spec_path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return {}
    return dict(_blocks(text))


@functools.lru_cache(maxsize=8)
def _blocks(text: str) -> tuple[tuple[str, str], ...]:
    """The blocks of one resources.yaml text, parsed once however many apps are configured from it
    (reloads, each test's app)."""
    try:
        resources = (yaml.safe_load(text) or {}).get("resources") or {}
    except yaml.YAMLError:
        return ()
    return tuple(
        (name, yaml.safe_dump(block, sort_keys=False, allow_unicode=True)) for name, block in resources.items()
    )
