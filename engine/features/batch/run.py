"""Run a batch: every operation through `engine.http.bulk.perform`, on one connection, in one transaction.

An operation is ``{"method", "path", "body"}`` with a path under /api/ (a collection or an item,
with a query string for bulk writes and upserts). A later operation may use a value of an earlier
result: ``{"$ref": "0/data/id"}`` anywhere in its body is replaced by that value (the body of
result 0, then its keys and list indexes), and so is ``{0/data/id}`` in its path. The first
failing operation rolls every operation back; its problem says which one (`operation`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict
from yarl import URL

from engine.db.redis import redis_down
from engine.features.rate_limit.plugin import GLOBAL, LIMITER
from engine.http.bulk import WriteCall, perform
from engine.http.handlers import write_context
from engine.http.keys import POOL, SPEC
from engine.kernel.errors import BadRequest, Problem, TooManyRequests, ValidationFailed
from engine.resources.bulk import restated
from engine.spec import Resource

MAX_OPERATIONS = 100
METHODS = ("POST", "PUT", "PATCH", "DELETE")
REF = "$ref"
_PATH_REF = re.compile(r"\{([0-9]+(?:/[^{}/]+)+)\}")


@dataclass(frozen=True)
class Operation:
    index: int
    method: str
    path: str
    body: Any


def operations(document: dict[str, Any]) -> list[Operation]:
    """The operations of a batch body, checked; a 400 naming the first one that is malformed."""
    listed = document.get("operations")
    if set(document) != {"operations"} or not isinstance(listed, list) or not listed:
        raise BadRequest('send {"operations": [{"method": ..., "path": ..., "body": ...}, ...]}')
    if len(listed) > MAX_OPERATIONS:
        raise BadRequest(f"{len(listed)} operations; at most {MAX_OPERATIONS} in one batch")
    found = []
    for index, op in enumerate(listed):
        if not isinstance(op, dict) or not set(op) <= {"method", "path", "body"}:
            raise BadRequest(f"operation {index} must be an object with method, path and body", operation=index)
        method, path = op.get("method"), op.get("path")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise BadRequest(f"operation {index}: method must be one of {', '.join(METHODS)}", operation=index)
        if not isinstance(path, str) or not path.startswith("/api/"):
            raise BadRequest(f"operation {index}: path must start with /api/", operation=index)
        found.append(Operation(index, method.upper(), path, op.get("body")))
    return found


def resolve(pointer: str, results: list[dict[str, Any]], index: int) -> Any:
    """The value at `pointer` ("0/data/id": result 0's body, then keys and list indexes)."""
    first, _, rest = pointer.partition("/")
    if not first.isdigit() or int(first) >= index:
        raise BadRequest(f"{REF} {pointer!r} must start with an earlier operation", operation=index)
    value: Any = results[int(first)]["body"]
    for part in rest.split("/") if rest else ():
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise BadRequest(f"{REF} {pointer!r} names nothing in that result", operation=index)
    return value


def substitute(node: Any, results: list[dict[str, Any]], index: int) -> Any:
    """`node` with every {"$ref": pointer} replaced by the value it points at."""
    if isinstance(node, dict):
        if set(node) == {REF} and isinstance(node[REF], str):
            return resolve(node[REF], results, index)
        return {k: substitute(v, results, index) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, results, index) for v in node]
    return node


def _target(request: web.Request, op: Operation, path: str) -> tuple[Resource, str | None, URL]:
    url = URL(path)
    parts = url.path.split("/")[2:]
    spec = request.app[SPEC]
    if len(parts) not in (1, 2) or parts[0] not in spec.resources or not all(parts):
        # `located` says which operation: "operation 1 failed: '/api/x' is not ..."
        raise BadRequest(f"{url.path[:200]!r} is not a resource collection or item", operation=op.index)
    return spec.resources[parts[0]], (parts[1] if len(parts) == 2 else None), url


def located(exc: Problem, index: int) -> Problem:
    """The failing operation's problem, saying which operation it was."""
    detail = f"operation {index} failed: {exc.detail}"
    if isinstance(exc, ValidationFailed):
        problem: Problem = ValidationFailed(exc.extra.get("errors", []), detail=detail)
        problem.extra.update({k: v for k, v in exc.extra.items() if k != "errors"})
    else:
        problem = restated(exc, detail)
    problem.extra["operation"] = index
    return problem


ACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


async def charge(request: web.Request, resource: Resource, op: Operation) -> None:
    """Rate-limit accounting per operation: each one after the first takes a token from the bucket
    its own request would (the batch request's token paid for the first); none left is a 429."""
    limiter = request.app.get(LIMITER)
    if limiter is None or op.index == 0:
        return
    bucket, rate = limiter.overrides.get((resource.name, ACTIONS[op.method]), (GLOBAL, limiter.default))
    if rate is None:
        return
    try:
        decision = await limiter.store.take(f"{bucket}|{limiter.caller(request)}", rate)
    except redis_down() as exc:
        limiter.backend_failed(exc)
        return
    if not decision.allowed:
        raise TooManyRequests(
            f"too many requests: the limit is {rate.text}; retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )


async def run(request: web.Request, ops: list[Operation]) -> list[dict[str, Any]]:
    """Every operation or none: one result (status, body) per operation, in order."""
    results: list[dict[str, Any]] = []
    context = write_context(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        for op in ops:
            try:
                path = _PATH_REF.sub(lambda m, i=op.index: str(resolve(m.group(1), results, i)), op.path)
                resource, item, url = _target(request, op, path)
                await charge(request, resource, op)
                body = substitute(op.body, results, op.index)
                call = WriteCall(
                    request,
                    resource,
                    op.method,
                    item,
                    MultiDict(url.query),
                    body,
                    context.for_write(),
                    prefer=request.headers.get("Prefer", ""),
                )
                outcome = await perform(call, conn)
            except Problem as exc:
                raise located(exc, op.index) from None
            results.append({"status": outcome.status, "body": outcome.body})
    return results
