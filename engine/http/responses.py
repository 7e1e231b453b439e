"""Every response body goes through here: orjson for data, RFC 9457 problem+json for errors."""

from __future__ import annotations

import traceback
from typing import Any

import orjson
from aiohttp import web

from engine.kernel.errors import Problem

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


def problem_response(
    problem: Problem, request_id: str, *, error: BaseException | None = None, show_traceback: bool = False
) -> web.Response:
    body = problem.body()
    body["request_id"] = request_id
    if show_traceback and error is not None:
        body["traceback"] = traceback.format_exception(error)
    return web.Response(
        body=orjson.dumps(body), status=problem.status, content_type=PROBLEM_JSON, headers=problem.headers
    )
