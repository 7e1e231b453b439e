"""Built-in input limits on JSON bodies: nesting depth and array length, refused with 422 naming
the place, before authentication, parsing and JSON Schema validation spend time on them; and turns
for large bodies.

The body size (ENGINE_BODY_LIMIT, 413) is enforced while the body is read; the handler's strict
parser (engine.http.body) keeps its own 64-level guard. These caps are the finer, configurable
ones: ENGINE_MAX_JSON_DEPTH and ENGINE_MAX_ARRAY_ITEMS.

Turns: a bulk create of 1,000 rows holds a few megabytes of small Python objects while it runs (the
parsed items, the rows written, the response). Several at once leave the allocator's arenas
fragmented after they end, and a process keeps that memory: measured after 1,000-row creates from
eight clients at once, 114 MB resident against 93 MB with two turns, at the same rows per second
(with two, PostgreSQL works on one create while the process works on the other). So at most
ENGINE_LARGE_BODIES_AT_ONCE requests whose JSON body is over ENGINE_LARGE_BODY_BYTES are parsed and
handled at once; the others wait their turn, within their deadline (504 past it), their body read.
Small bodies never wait, nor a request the engine runs inside another (an MCP tool call's REST
request: the /mcp request holds the turn; waiting for a second one could wait for itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from engine.features.input_limits.metrics import LARGE_BODIES_HANDLED, LARGE_BODIES_WAITING
from engine.http.body import JSON_TYPES, Shape, parsed_fast, refuse_unknown_coding, shape_of
from engine.http.keys import CONFIG, INSIDE
from engine.kernel.config import Config
from engine.kernel.errors import PayloadTooLarge, ValidationFailed
from engine.kernel.hooks import hookimpl
from engine.spec import Spec


@dataclass(frozen=True)
class InputLimits:
    max_depth: int
    max_array_items: int
    large_body: int = 65536  # bytes: a body above this takes a turn
    large_at_once: int = 0  # turns; 0: no bound
    _turns: asyncio.Semaphore | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_turns", asyncio.Semaphore(self.large_at_once) if self.large_at_once else None)

    @classmethod
    def from_config(cls, config: Config) -> InputLimits:
        return cls(
            config.value("ENGINE_MAX_JSON_DEPTH"),
            config.value("ENGINE_MAX_ARRAY_ITEMS"),
            config.value("ENGINE_LARGE_BODY_BYTES"),
            config.value("ENGINE_LARGE_BODIES_AT_ONCE"),
        )

    def large(self, size: int) -> bool:
        """Whether a body of `size` bytes (decoded) must take a turn."""
        return self._turns is not None and size > self.large_body

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One of the large bodies' turns, waiting for it when all are taken (cancelled waits, at the
        deadline or when the client leaves, take no turn); without a bound, at once."""
        turns = self._turns
        if turns is None:
            yield
            return
        if turns.locked():
            LARGE_BODIES_WAITING.inc()
            try:
                await turns.acquire()
            finally:
                LARGE_BODIES_WAITING.dec()
        else:
            await turns.acquire()
        LARGE_BODIES_HANDLED.inc()
        try:
            yield
        finally:
            LARGE_BODIES_HANDLED.dec()
            turns.release()

    def within(self, shape: Shape) -> bool:
        """The common case, answered from the body's shape (one walk, shared with the handler's
        parser) without building a pointer for every node. The body itself, when an array, is a
        list of items (bulk writes), capped by ENGINE_MAX_BATCH_ITEMS instead."""
        return shape.container_depth <= self.max_depth and shape.longest_array <= self.max_array_items

    def violations(self, document: Any, shape: Shape | None = None) -> Iterator[dict[str, str]]:
        """Each place that breaks a limit, as a JSON Pointer; stops descending where one is found."""
        if not isinstance(document, (dict, list)) or self.within(shape or shape_of(document)):
            return
        stack: list[tuple[Any, str, int]] = [(document, "", 1)]
        while stack:
            node, path, depth = stack.pop()
            if not isinstance(node, (dict, list)):
                continue
            if depth > self.max_depth:
                yield {"path": path or "/", "message": f"nested deeper than {self.max_depth} levels"}
                continue
            if isinstance(node, list):
                if len(node) > self.max_array_items and depth > 1:
                    yield {"path": path or "/", "message": f"{len(node)} items; at most {self.max_array_items}"}
                    continue
                stack.extend((item, f"{path}/{i}", depth + 1) for i, item in enumerate(node))
            else:
                stack.extend((value, f"{path}/{_escape(key)}", depth + 1) for key, value in node.items())


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


LIMITS = web.AppKey("input_limits", InputLimits)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[LIMITS] = InputLimits.from_config(config)


@web.middleware
async def json_limits(request: web.Request, handler) -> web.StreamResponse:
    """Check JSON bodies of every route; a body that does not parse is left to the handler's
    strict parser, which explains what is wrong with it. A body in a content coding the server does
    not decode is a 415 on every route."""
    refuse_unknown_coding(request)
    if request.can_read_body and request.content_type in JSON_TYPES and LIMITS in request.app:
        limits, limit = request.app[LIMITS], request.app[CONFIG].body_limit
        if request.content_length is not None and request.content_length > limit:
            # said before it is sent: no reason to wait for bytes that will be refused anyway
            raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")
        # Read before taking a turn: the bytes are one buffer (C memory, given back when freed), and
        # a client sending its body slowly must not hold a turn meanwhile.
        body = await request.read()
        if not limits.large(len(body)) or INSIDE in request:  # the outer request holds the turn
            return await _checked(request, body, limits, handler)
        async with limits.turn():
            return await _checked(request, body, limits, handler)
    return await handler(request)


async def _checked(request: web.Request, body: bytes, limits: InputLimits, handler) -> web.StreamResponse:
    parsed = parsed_fast(request, body, keep=True)  # kept for the handler's parser
    if parsed is not None:
        errors = list(limits.violations(*parsed))
        if errors:
            raise ValidationFailed(
                errors[:20], detail="the request body is nested deeper or has longer arrays than allowed"
            )
    return await handler(request)


@hookimpl(trylast=True)
def register_middlewares(app, spec):
    return [json_limits]
