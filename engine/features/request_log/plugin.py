"""Built-in request log: one line per request on the ``engine.access`` logger.

Fields: method, route (the template), path, status, duration_ms, bytes, and from the log context
request_id and user_id. JSON in production (ENGINE_LOG_FORMAT), readable in development. When
INFO is off for ``engine.access`` the middleware only passes the request through.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.http.keys import REQUEST_ID
from engine.http.middleware import observes_answers
from engine.http.observe import response_size, route_template, status_of
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.kernel.logs import log_fast
from engine.spec import Spec

log = logging.getLogger("engine.access")


@observes_answers
@web.middleware
async def request_log(request: web.Request, handler) -> web.StreamResponse:
    if not log.isEnabledFor(logging.INFO):
        return await handler(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except BaseException as error:
        _write(request, status_of(error), started, None)
        raise
    _write(request, response.status, started, response_size(response))
    return response


def _write(request: web.Request, status: int, started: float, size: int | None) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    route = route_template(request)
    fields = {
        "method": request.method,
        "route": route,
        "path": request.path,
        "status": status,
        "duration_ms": duration_ms,
        "bytes": size,
    }
    level = logging.WARNING if status >= 500 else logging.INFO
    log_fast(log, level, "%s %s %s %.1fms", (request.method, route, status, duration_ms), fields)


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Streams send their headers inside the handler, before the error boundary adds the id."""
    request_id = request.get(REQUEST_ID)
    if request_id and "X-Request-ID" not in response.headers:
        response.headers["X-Request-ID"] = request_id


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app.on_response_prepare.append(_stamp_request_id)


@hookimpl(tryfirst=True)
def register_middlewares(app: web.Application, spec: Spec) -> list[Middleware]:
    """First among plugin middlewares: it times and logs everything the others do, rejections included."""
    return [request_log]
