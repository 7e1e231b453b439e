"""Credential headers with bytes that are not UTF-8 are refused like any bad credential, never a 500.

aiohttp decodes header values as UTF-8 with `surrogateescape`, so a byte such as 0xE9 (what curl or
a Latin-1 client sends for "é") reaches the engine as a lone surrogate, which `str.encode()` refuses.
aiohttp's own client always sends UTF-8, so these requests are written on a raw socket.
"""

from __future__ import annotations

import asyncio
import re

import orjson

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def raw(api, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict]:
    """Send one request with these exact header bytes; its status and JSON body."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Connection: close", b"Content-Length: %d" % len(body)]
    if not any(name.lower() == b"host" for name, _ in headers):
        lines.append(b"Host: 127.0.0.1")
    lines += [name + b": " + value for name, value in headers]
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), (orjson.loads(payload) if payload.startswith(b"{") else {})


async def test_a_bearer_token_with_a_non_utf8_byte_is_401_malformed(api):
    status, body = await raw(api, "GET", "/api/agents", [(b"Authorization", b"Bearer \xe9.\xe9.\xe9")])
    assert status == 401, body
    assert body["detail"] == "the access token is malformed"


async def test_an_api_key_with_a_non_utf8_byte_is_401_unknown(api):
    for header in ((b"X-API-Key", b"rek_\xe9"), (b"X-API-Key", b"\xe9"), (b"Authorization", b"Bearer rek_\xe9")):
        status, body = await raw(api, "GET", "/api/agents", [header])
        assert status == 401, (header, body)
        assert "unknown" in body["detail"]


async def test_a_session_cookie_with_a_non_utf8_byte_is_anonymous(api):
    status, body = await raw(api, "GET", "/api/me", [(b"Cookie", b"engine_session=garbage\xe9")])
    assert status == 401, body
    assert body["detail"] == "sign in to see your own user"


async def test_a_csrf_token_with_a_non_utf8_byte_is_403(api):
    await api.as_user("alice")
    client = api.anonymous
    csrf = CSRF.search((await client.get("/console/signin")).text).group(1)
    form = {"csrf_token": csrf, "token": api.token("alice"), "next": "/console"}
    assert (await client.post("/console/signin", data=form, allow_redirects=False)).status == 303
    cookie = next(c for c in client.client.session.cookie_jar if c.key == "engine_session")
    headers = [
        (b"Cookie", b"engine_session=" + cookie.value.encode()),
        (b"Content-Type", b"application/json"),
        (b"X-CSRF-Token", b"\xe9" * 10),
    ]
    status, body = await raw(api, "POST", "/api/agents", headers, b'{"name": "Helper"}')
    assert status == 403, body
    assert "X-CSRF-Token" in body["detail"]


async def test_the_docs_page_with_a_host_that_is_not_a_host_is_400(api):
    for host in (b"\xe9x", b"example.com:99999", b"localhost:abc"):
        status, body = await raw(api, "GET", "/docs", [(b"Host", host)])
        assert status == 400, (host, body)
        assert body["detail"] == "the Host header is not a valid host[:port]"


async def test_an_mcp_tool_call_forwards_header_bytes_that_are_not_utf8(api):
    await api.as_user("alice")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "agents_list", "arguments": {}}}
    headers = [
        (b"Authorization", b"Bearer " + api.token("alice").encode()),
        (b"Accept", b"application/json, text/event-stream"),
        (b"Content-Type", b"application/json"),
        (b"User-Agent", b"caf\xe9"),
    ]
    status, body = await raw(api, "POST", "/mcp", headers, orjson.dumps(message))
    assert status == 200, body
    assert body["result"]["structuredContent"] == {"data": [], "meta": {"limit": 20, "next_cursor": None}}
