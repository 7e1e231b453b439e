"""Built-in CORS with aiohttp-cors: browsers on the listed origins may call the API, with credentials.

Origins come from ENGINE_CORS_ORIGINS (comma-separated) or else `settings.cors_origins` in
resources.yaml; none listed means no cross-origin access at all. A listed origin
(https://app.example.com) may send credentials (cookies, Authorization); `*` admits any other
origin without credentials. Preflights (OPTIONS) are answered for every route.
"""

from __future__ import annotations

import aiohttp_cors
from aiohttp import web

from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "MCP-Protocol-Version",  # sent by MCP clients on every request after the handshake (docs/mcp.md)
    "Prefer",
    "X-CSRF-Token",
    "X-Request-ID",
)
EXPOSE_HEADERS = (
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
    "Idempotent-Replayed",
    "Preference-Applied",
)
MAX_AGE = 600  # seconds a browser may reuse a preflight answer

ORIGINS = web.AppKey("cors_origins", tuple)


def allowed_origins(spec: Spec, config: Config) -> tuple[str, ...]:
    """ENGINE_CORS_ORIGINS, else settings.cors_origins (engine.features.cors.settings checks each origin)."""
    return config.value("ENGINE_CORS_ORIGINS", spec)


def options(origin: str) -> aiohttp_cors.ResourceOptions:
    return aiohttp_cors.ResourceOptions(
        allow_credentials=origin != "*",
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age=MAX_AGE,
    )


async def _vary_on_origin(request: web.Request, response: web.StreamResponse) -> None:
    """The answer depends on Origin: shared caches must not hand one origin's answer to another."""
    vary = response.headers.get("Vary", "")
    if "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[ORIGINS] = allowed_origins(spec, config)
    if app[ORIGINS]:
        app.on_response_prepare.append(_vary_on_origin)


@hookimpl(trylast=True)
def startup(app: web.Application) -> None:
    """Every route exists by now (resources and plugins), and the router is not frozen yet."""
    origins = app[ORIGINS]
    if not origins:
        return
    cors = aiohttp_cors.setup(app, defaults={origin: options(origin) for origin in origins})
    own_options = {route.resource for route in app.router.routes() if route.method in ("OPTIONS", "*")}
    for route in list(app.router.routes()):
        if isinstance(route, web.ResourceRoute) and route.resource not in own_options:
            cors.add(route)  # per route: a preflight is answered for the methods the path really has
