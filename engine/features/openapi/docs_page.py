"""Built-in: GET /docs, a reference page for the API's clients, rendered with aiohttp-jinja2.

It works offline and under a strict Content-Security-Policy: no CDN, no inline script or style;
its one script and one stylesheet are package files served from /docs/static/.
"""

from __future__ import annotations

import hashlib
from importlib import resources as package_files

import aiohttp_jinja2
import jinja2
from aiohttp import web

from engine.features.openapi import document_for, prepare
from engine.features.openapi.reference import other_routes, resource_docs
from engine.http.keys import SPEC
from engine.kernel.errors import BadRequest, NotFound
from engine.kernel.hooks import hookimpl

PATH = "/docs"
STATIC_PATH = "/docs/static/{name}"
TEMPLATES = web.AppKey("docs_templates", jinja2.Environment)
STATIC_FILES = {"docs.js": "text/javascript", "docs.css": "text/css"}
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


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, content type, ETag): read once, served from memory."""
    files = {}
    for name, content_type in STATIC_FILES.items():
        content = package_files.files("engine.features.openapi").joinpath("static", name).read_bytes()
        files[name] = (content, content_type, '"' + hashlib.sha256(content).hexdigest()[:32] + '"')
    return files


_STATIC = _load_static()


async def docs_page(request: web.Request) -> web.Response:
    spec = request.app[SPEC]
    document = await document_for(request.app)
    try:
        origin = str(request.url.origin())  # the examples' base URL, from the Host header
    except ValueError:  # yarl refuses the host (bytes that are not a name, a port past 65535 ...)
        raise BadRequest("the Host header is not a valid host[:port]") from None
    context = {
        "title": document["info"]["title"],
        "origin": origin,
        "resources": resource_docs(spec, document, origin),
        "other_routes": other_routes(spec, document),
        "cookie_sessions": any(
            scheme.get("in") == "cookie" for scheme in document["components"].get("securitySchemes", {}).values()
        ),
        "static": {name: f"/docs/static/{name}?v={etag.strip(chr(34))[:12]}" for name, (_, _, etag) in _STATIC.items()},
    }
    response = aiohttp_jinja2.render_template("docs/index.html", request, context, app_key=TEMPLATES)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def static_file(request: web.Request) -> web.Response:
    found = _STATIC.get(request.match_info["name"])
    if found is None:
        raise NotFound(f"no documentation file {request.match_info['name'][:100]!r}")
    content, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=content, content_type=content_type, charset="utf-8", headers=headers)


@hookimpl(trylast=True)
def configure(app: web.Application) -> None:
    prepare(app)
    aiohttp_jinja2.setup(
        app,
        app_key=TEMPLATES,
        loader=jinja2.PackageLoader("engine.features.openapi", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )


@hookimpl(trylast=True)
def register_routes() -> list[web.RouteDef]:
    return [web.get(PATH, docs_page), web.get(STATIC_PATH, static_file)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    document["paths"][PATH] = {
        "get": {
            "operationId": "docs_page",
            "tags": ["documentation"],
            "summary": "This API's reference page (HTML)",
            "security": [{}],
            "responses": {"200": {"description": "The page.", "content": {"text/html": {}}}},
        }
    }
    document["paths"][STATIC_PATH] = {
        "get": {
            "operationId": "docs_static_file",
            "tags": ["documentation"],
            "summary": "The reference page's script and stylesheet",
            "security": [{}],
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"enum": sorted(STATIC_FILES)}}],
            "responses": {
                "200": {"description": "The file."},
                "304": {"description": "Not modified (If-None-Match)."},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    }
