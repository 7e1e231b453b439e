"""What the request log and the request metrics both need: the route template and the final status."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.http.middleware import CLIENT_CLOSED, DATABASE_UNAVAILABLE
from engine.kernel.errors import Problem

UNMATCHED = "(unmatched)"  # one label for every path no route serves: raw paths would explode cardinality


def route_template(request: web.Request) -> str:
    """``/api/agents/{id}``, not ``/api/agents/7f3c...``: the label and log field for the route."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def status_of(error: BaseException) -> int:
    """The status the error boundary will answer for ``error`` (it renders every failure)."""
    if isinstance(error, (Problem, web.HTTPException)):
        return error.status
    if isinstance(error, asyncio.CancelledError):
        return CLIENT_CLOSED
    if isinstance(error, DATABASE_UNAVAILABLE):
        return 503
    return 500


def response_size(response: web.StreamResponse) -> int | None:
    """Body bytes: what a stream wrote, or the length of a ready body (None when unknown)."""
    return response.body_length or response.content_length
