"""A canary for how a tool call becomes a request (engine/features/mcp/dispatch.py): aiohttp's
`Application._handle` and the `Request` it is given, on a tiny app of its own (no database).

When an aiohttp release changes them, these tests fail here, naming what the MCP tools rely on,
instead of tool calls that skip a middleware or lose their body.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from engine.features.mcp.dispatch import dispatch
from engine.features.mcp.tools import Call

SEEN = web.AppKey("seen", list)


@web.middleware
async def record(request: web.Request, handler) -> web.StreamResponse:
    request.app[SEEN].append(
        {
            "path": request.path_qs,
            "headers": dict(request.headers),
            "can_read_body": request.can_read_body,
            "body": await request.read(),
        }
    )
    return await handler(request)


async def inner(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "id": request.match_info["id"], "body": await request.text()})


async def moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def outer(request: web.Request) -> web.Response:
    await request.read()  # as the MCP endpoint does before the tool call
    spec = orjson.loads(request.headers["X-Call"])
    call = Call(spec["method"], spec["path"], bytes.fromhex(spec["body"]) if spec["body"] is not None else None)
    answer = await dispatch(request.app, request, call)
    return web.json_response({"status": answer.status, "body": answer.body.decode()})


def tiny_app() -> web.Application:
    app = web.Application(middlewares=[record])
    app[SEEN] = []
    app.router.add_routes([web.post("/outer", outer), web.route("*", "/inner/{id}", inner), web.get("/moved", moved)])
    return app


async def call_through(aiohttp_client, call: dict, headers: dict | None = None):
    client = await aiohttp_client(tiny_app())
    sent = {"X-Call": orjson.dumps(call).decode(), **(headers or {})}
    async with client.post("/outer", data=b'{"jsonrpc": "2.0"}', headers=sent) as response:
        return client.app[SEEN], await response.json()


async def test_an_internal_request_is_routed_through_the_apps_middlewares_to_its_handler(aiohttp_client):
    seen, answer = await call_through(aiohttp_client, {"method": "PATCH", "path": "/inner/7?x=1", "body": b"{}".hex()})

    assert [s["path"] for s in seen] == ["/outer", "/inner/7?x=1"]
    assert answer["status"] == 200
    assert orjson.loads(answer["body"])["method"] == "PATCH"


async def test_an_internal_requests_body_is_readable_by_middlewares_and_the_handler(aiohttp_client):
    body = '{"name": "x"}'
    call = {"method": "POST", "path": "/inner/1", "body": body.encode().hex()}
    seen, answer = await call_through(aiohttp_client, call)

    assert seen[1]["can_read_body"] is True and seen[1]["body"] == body.encode()
    assert orjson.loads(answer["body"])["body"] == body


async def test_an_internal_request_carries_the_credential_but_not_cookies_or_other_headers(aiohttp_client):
    headers = {"Authorization": "Bearer t", "Cookie": "session=s", "Idempotency-Key": "k", "X-API-Key": "ak"}
    seen, _ = await call_through(aiohttp_client, {"method": "GET", "path": "/inner/1", "body": None}, headers)

    forwarded = seen[1]["headers"]
    assert forwarded["Authorization"] == "Bearer t" and forwarded["X-API-Key"] == "ak"
    assert "Cookie" not in forwarded and "Idempotency-Key" not in forwarded and "X-Call" not in forwarded


async def test_a_path_in_an_id_stays_one_path_segment(aiohttp_client):
    _, answer = await call_through(aiohttp_client, {"method": "GET", "path": "/inner/..%2Fouter", "body": None})

    assert answer["status"] == 200
    assert orjson.loads(answer["body"])["id"] == "../outer"


async def test_a_redirect_from_the_route_is_answered_not_raised(aiohttp_client):
    _, answer = await call_through(aiohttp_client, {"method": "GET", "path": "/moved", "body": None})

    assert answer["status"] == 302
