"""Problem+json for requests aiohttp's parser refuses before any middleware runs.

A request line over ENGINE_MAX_LINE_SIZE, a header over ENGINE_MAX_HEADER_SIZE or more than
ENGINE_MAX_HEADERS headers never becomes a request the app sees: the parser fails and aiohttp
answers from `RequestHandler.handle_error` with a plain-text 400. aiohttp offers no setting for
that answer (aio-libs/aiohttp#3287), so `install` wraps that one public method of the exported
`web.RequestHandler` class: parser errors become 414 (request line), 431 (headers) or 400
(anything else malformed) as problem+json; every other call goes to aiohttp's own method.
aiohttp is pinned below 4 and tests/test_protection_input_limits.py is the canary that fails if
the method or the parser's exceptions change shape.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, HttpProcessingError, LineTooLong

from engine.http.body import unsupported_coding
from engine.http.middleware import new_request_id
from engine.http.responses import problem_response
from engine.kernel.errors import BadRequest, Problem

log = logging.getLogger("engine.http")
_AIOHTTP_HANDLE_ERROR = web.RequestHandler.handle_error
# The start of a request target (origin, absolute or asterisk form), after an optional method:
# what the parser quotes when the request line is too long. A header quotes its name or value.
_REQUEST_TARGET = re.compile(rb"^(?:[A-Z]{3,10} )?(?:/|\*|[A-Za-z][A-Za-z0-9+.-]*://)")


class UriTooLong(Problem):
    status = 414
    title = "URI Too Long"
    slug = "uri-too-long"


class HeadersTooLarge(Problem):
    status = 431
    title = "Request Header Fields Too Large"
    slug = "headers-too-large"


def problem_for(exc: HttpProcessingError) -> Problem:
    """The problem for a request the parser refused with `exc`."""
    if isinstance(exc, LineTooLong):
        quoted, limit = exc.args[0], exc.args[1]
        quoted = bytes(quoted) if isinstance(quoted, (bytes, bytearray)) else str(quoted).encode("utf-8", "replace")
        if _REQUEST_TARGET.match(quoted):
            return UriTooLong(f"the request line is longer than {limit} bytes (ENGINE_MAX_LINE_SIZE)")
        return HeadersTooLarge(f"a header is longer than {limit} bytes (ENGINE_MAX_HEADER_SIZE)")
    if isinstance(exc, ContentEncodingError):  # a coding aiohttp knows but cannot decode here (br, zstd)
        return unsupported_coding()
    if isinstance(exc, BadHttpMessage) and "too many headers" in exc.message.lower():
        return HeadersTooLarge("the request has more headers than allowed (ENGINE_MAX_HEADERS)")
    return BadRequest(f"the request is not valid HTTP: {str(exc.message)[:200]}")


def handle_error(
    self: web.RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """aiohttp's `handle_error`, answering parser errors as problem+json."""
    if not isinstance(exc, HttpProcessingError) or request.writer.output_size > 0:
        return _AIOHTTP_HANDLE_ERROR(self, request, status, exc, message)
    problem, request_id = problem_for(exc), new_request_id()
    log.info("refused a malformed request from %s: %s request_id=%s", request.remote, problem.detail, request_id)
    response = problem_response(problem, request_id)
    response.headers["X-Request-ID"] = request_id
    response.force_close()  # what follows on this connection cannot be parsed either
    return response


def install() -> None:
    """Answer parser errors as problem+json in this process (idempotent)."""
    handler: Any = web.RequestHandler
    if handler.handle_error is not handle_error:
        handler.handle_error = handle_error
