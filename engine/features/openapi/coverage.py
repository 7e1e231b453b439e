"""Which routes an app serves that its OpenAPI document does not describe.

The engine's own test suite asserts this is empty; plugin authors can do the same for theirs:
``assert undocumented_routes(api.app, await document_for(api.app)) == []``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

_PARAMETER_REGEX = re.compile(r"\{([^}:]+):[^}]+\}")


def route_path(route: web.AbstractRoute) -> str:
    """The route's path in OpenAPI form: `/api/x/{id}` (a `{name:regex}` loses its regex)."""
    resource = route.resource
    path = resource.canonical if resource is not None else ""
    return _PARAMETER_REGEX.sub(r"{\1}", path)


def undocumented_routes(app: web.Application, document: dict[str, Any]) -> list[str]:
    """`METHOD /path` for every served route missing from `document`.

    HEAD counts as documented when GET is (it is GET without a body); a `*` route needs at
    least one documented method on its path. OPTIONS routes are CORS preflights (aiohttp-cors
    adds one per path when origins are configured), not operations of the API.
    """
    paths = document.get("paths", {})
    missing = []
    for route in app.router.routes():
        path = route_path(route)
        documented = {method for method in paths.get(path, {}) if method != "parameters"}
        method = route.method.lower()
        if method == "options":
            continue
        wanted = "get" if method == "head" else method
        if (method == "*" and not documented) or (method != "*" and wanted not in documented):
            missing.append(f"{route.method} {path}")
    return missing
