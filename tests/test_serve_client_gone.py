"""A client that leaves in the middle of its request body, against the real `resource-engine serve`
(the test server cancels such a handler; the production server lets it run and fail its read)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from process_support import engine_env, serving

from engine.testing import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent


async def leave_mid_body(base: str, token: str, request_id: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    body = b'{"name": "' + b"x" * 1000 + b'"}'
    head = (
        f"POST /api/agents HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nX-Request-ID: {request_id}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body[:100])
    await writer.drain()
    await asyncio.sleep(0.3)  # the server is waiting for the rest of the body
    writer.close()


async def test_a_client_that_leaves_mid_body_is_logged_as_gone_not_as_a_database_failure(
    api, engine_database_url, engine_schema
):
    env = {**engine_env(engine_database_url, engine_schema), "ENGINE_AUTO_MIGRATE": "0"}
    env["ENGINE_JWT_SECRET"] = TEST_JWT_SECRET
    async with serving(cwd=ROOT, env=env) as (server, base):
        await leave_mid_body(base, api.token("alice"), "req-gone")
        await server.wait_for_output("[req-gone]", within=10)
        await asyncio.sleep(0.3)  # any other line of the request
    lines = [line for line in server.lines if "[req-gone]" in line]
    assert any("engine.access: POST /api/agents 499" in line for line in lines), lines
    assert not any("database unavailable" in line for line in lines), lines
