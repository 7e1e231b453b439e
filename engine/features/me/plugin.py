"""Built-in `GET /api/me`: the signed-in caller's own `users` row (401 when anonymous).

The row is read through the users resource manager with the caller's identity, so the same
role and ownership rules apply as to `GET /api/users/{id}`.
"""

from __future__ import annotations

from aiohttp import web

from engine.features.me.openapi import me_paths
from engine.http.handlers import BEARER_CHALLENGE, authorize
from engine.http.keys import IDENTITY, SPEC
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.errors import Unauthorized
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

USERS = "users"


async def me(request: web.Request) -> web.Response:
    identity = request[IDENTITY]
    if identity is None:
        raise Unauthorized("sign in to see your own user", headers=BEARER_CHALLENGE)
    refuse_parameters(request.query, "your own user")
    manager = await authorize(request, request.app[SPEC].resources[USERS], "read")
    return json_response({"data": await manager.get(identity.user_id, identity)})


@hookimpl(trylast=True)
def register_routes(app: web.Application, spec: Spec) -> list[web.RouteDef]:
    if USERS not in spec.resources:
        return []
    return [web.get("/api/me", me)]


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    me_paths(document)
