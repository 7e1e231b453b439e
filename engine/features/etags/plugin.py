"""Built-in HTTP caching: ETags on GET responses, 304 for If-None-Match, Cache-Control for all.

Single rows are tagged by the read handler (so the tag also works with If-Match on PATCH and
DELETE, see engine.http.etag); every other successful GET (lists, plugin routes) is tagged
from its body here. A GET whose If-None-Match lists the tag gets 304 with no body.

Responses to signed-in callers are `Cache-Control: private, no-cache` (no shared cache keeps
them, browsers revalidate with the ETag); anonymous ones `no-cache`. A response that sets its
own Cache-Control keeps it.
"""

from __future__ import annotations

from aiohttp import web

from engine.features.openapi.contrib import (
    add_parameter,
    add_response_header,
    header_parameter,
    problem_response,
    resource_operations,
)
from engine.http.etag import body_tag, none_match
from engine.http.keys import IDENTITY
from engine.http.middleware import for_methods
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.spec import Spec

PRIVATE = "private, no-cache"
ANONYMOUS = "no-cache"
# A 304 repeats the headers the 200 would have carried that describe the representation.
KEPT_ON_304 = ("ETag", "Cache-Control", "Vary", "Content-Location", "Link")
READS = ("GET", "HEAD")  # a HEAD is answered as its GET would be, without the body (aiohttp leaves it out)


@for_methods(*READS)
@web.middleware
async def conditional_get(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method not in READS or response.status != 200 or not isinstance(response, web.Response):
        return response
    etag = response.headers.get("ETag")
    if etag is None and isinstance(response.body, bytes):
        etag = response.headers["ETag"] = body_tag(response.body)
    condition = request.headers.get("If-None-Match")
    if etag is not None and condition is not None and none_match(condition, etag):
        kept = {name: response.headers[name] for name in KEPT_ON_304 if name in response.headers}
        return web.Response(status=304, headers=kept)
    return response


def signed_in(request: web.Request) -> bool:
    return request.get(IDENTITY) is not None or "Authorization" in request.headers or "Cookie" in request.headers


async def _cache_control(request: web.Request, response: web.StreamResponse) -> None:
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = PRIVATE if signed_in(request) else ANONYMOUS


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app.on_response_prepare.append(_cache_control)


@hookimpl(trylast=True)
def register_middlewares(app, spec):
    return [conditional_get]


ETAG = "The version of this representation: send it in If-None-Match to revalidate, in If-Match to write."


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    for action, operation in resource_operations(document, spec):
        if action in ("list", "read"):
            add_parameter(operation, header_parameter("If-None-Match", "ETags you hold: 304 while one is current."))
            add_response_header(operation, "200", "ETag", ETAG)
            operation["responses"]["304"] = {"description": "Not modified: your copy (If-None-Match) is current."}
        elif action in ("update", "delete"):
            add_parameter(operation, header_parameter("If-Match", "Write only if the row's ETag is one of these."))
            add_parameter(operation, header_parameter("If-None-Match", "Write only if its ETag is none of these."))
            operation["responses"]["412"] = problem_response(
                "The row changed since you read it (If-Match), or is one If-None-Match lists."
            )
        if action in ("create", "update"):
            add_response_header(operation, "201" if action == "create" else "200", "ETag", ETAG)
    for name in spec.resources:  # PUT (engine/http/bulk.py) checks If-Match as PATCH does
        put = document.get("paths", {}).get(f"/api/{name}/{{id}}", {}).get("put")
        if put is not None:
            add_parameter(put, header_parameter("If-Match", "Replace only if the row exists with one of these ETags."))
            add_parameter(put, header_parameter("If-None-Match", "`*`: create only, never replace an existing row."))
            put["responses"]["412"] = problem_response(
                "The row changed since you read it, or does not exist (If-Match); or it exists (If-None-Match: *)."
            )
