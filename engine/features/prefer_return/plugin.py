"""Built-in `Prefer: return=minimal` (RFC 7240, PostgREST's spelling) on the writes of resources.

A client that does not need the written rows back says so: a create answers 201 with its
`Location` and `ETag` and no body, an update or `PUT` of an existing row 204 with its `ETag`, a
bulk write 201 or 204 with no body; `Preference-Applied: return=minimal` says it was honoured.
`return=representation` (the default) and any other value change nothing. Only the generated
routes of resources and relations answer so: routes whose body is the only copy of something
(a new API key, a webhook's secret, tokens) always send it.

Its middleware runs outside the idempotency keys', so an idempotent replay is shaped by the
replaying request.
"""

from __future__ import annotations

from aiohttp import web

from engine.features.openapi.contrib import resource_operations
from engine.features.relations.nested import NestedHandlers
from engine.http.middleware import after_authentication, for_methods
from engine.http.query_power import preference
from engine.http.routes import resource_action
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

WRITES = frozenset(("POST", "PATCH", "PUT"))
MINIMAL = "minimal"


def _returns_rows(request: web.Request) -> bool:
    """A generated route of a resource or of a relation: its body is the written rows."""
    if resource_action(request) is not None:
        return True
    return isinstance(getattr(request.match_info.handler, "__self__", None), NestedHandlers)


@after_authentication
@for_methods(*WRITES)
@web.middleware
async def prefer_return(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    if (
        request.method not in WRITES
        or response.status not in (200, 201)
        or "Prefer" not in request.headers
        or not isinstance(response, web.Response)
        or preference(request.headers, "return") != MINIMAL
        or not _returns_rows(request)
    ):
        return response
    headers = {name: value for name, value in response.headers.items() if name.lower() != "content-type"}
    headers["Preference-Applied"] = f"return={MINIMAL}"
    return web.Response(status=204 if response.status == 200 else 201, headers=headers)


@hookimpl(trylast=True)
def register_middlewares(app: web.Application, spec: Spec) -> list:
    return [prefer_return]


PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`return=minimal`: answer without the row (201 with Location and ETag, or 204 with ETag).",
    "schema": {"type": "string", "enum": ["return=minimal", "return=representation"]},
}


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    for action, operation in resource_operations(document, spec):
        if action not in ("create", "update"):
            continue
        parameters = operation.setdefault("parameters", [])
        prefer = next((p for p in parameters if p.get("name") == "Prefer" and p.get("in") == "header"), None)
        if prefer is None:
            parameters.append(dict(PREFER))
        else:  # one header, several preferences (an upsert's resolution=...): offer ours beside them
            enum = prefer.get("schema", {}).get("enum")
            if enum is not None:
                enum.extend(v for v in PREFER["schema"]["enum"] if v not in enum)
            prefer["description"] = " ".join(filter(None, (prefer.get("description"), PREFER["description"])))
        if action == "update":
            operation["responses"].setdefault("204", {"description": "Updated (`Prefer: return=minimal`): no body."})
