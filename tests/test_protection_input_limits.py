"""Input limits: body size (413), JSON nesting depth and array length (422), and the request line
and header sizes aiohttp enforces before any engine code runs."""

from __future__ import annotations

import os

import pytest

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {
        **engine_env,
        "ENGINE_RATE_LIMIT": "off",
        "ENGINE_BODY_LIMIT": "4096",
        "ENGINE_MAX_JSON_DEPTH": "4",
        "ENGINE_MAX_ARRAY_ITEMS": "3",
        "ENGINE_MAX_HEADER_SIZE": "1024",
        "ENGINE_MAX_LINE_SIZE": "1024",
        "ENGINE_MAX_HEADERS": "24",
    }


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


async def test_a_body_over_the_size_limit_is_413(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/notes", json={"title": "t", "body": "x" * 5000}), 413)


async def test_a_chunked_body_over_the_size_limit_is_413(api, expect_problem):
    alice = await api.as_user("alice")

    async def chunks():
        yield b'{"title": "t", "body": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    result = await alice.post("/api/notes", data=chunks(), headers={"Content-Type": "application/json"})
    expect_problem(result, 413)


async def test_a_body_nested_deeper_than_the_limit_is_422_naming_the_place(api, expect_problem):
    alice = await api.as_user("alice")
    body = expect_problem(await alice.post("/api/notes", json={"title": "t", "meta": nested(4)}), 422)
    assert body["errors"] == [{"path": "/meta/k/k/k", "message": "nested deeper than 4 levels"}]


async def test_an_array_longer_than_the_limit_is_422_naming_the_array(api, expect_problem):
    alice = await api.as_user("alice")
    body = expect_problem(await alice.post("/api/notes", json={"title": "t", "labels": ["a", "b", "c", "d"]}), 422)
    assert body["errors"] == [{"path": "/labels", "message": "4 items; at most 3"}]


async def test_limits_apply_to_updates_too(api, expect_problem):
    alice = await api.as_user("alice")
    created = await alice.post("/api/notes", json={"title": "t"})
    expect_problem(await alice.patch(created.headers["Location"], json={"labels": list("abcd")}), 422)


async def test_a_body_within_every_limit_is_accepted(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/notes", json={"title": "t", "meta": nested(2), "labels": ["a", "b", "c"]})
    assert created.status == 201, created.text


# aiohttp refuses these while parsing, before any middleware runs; engine.http.parse_errors turns
# its refusal into problem+json. The configured limits (1024) are far below aiohttp's defaults
# (8190), so a refusal proves they apply. These tests are also the canary for that wrapper.


async def test_a_header_over_the_size_limit_is_431_problem(api, expect_problem):
    result = await api.anonymous.get("/api/tags", headers={"X-Padding": "x" * 2000})
    assert "1024 bytes" in expect_problem(result, 431)["detail"]


async def test_a_header_name_over_the_size_limit_is_431_problem(api, expect_problem):
    result = await api.anonymous.get("/api/tags", headers={"X-" + "n" * 2000: "1"})
    expect_problem(result, 431)


async def test_a_header_within_the_size_limit_is_accepted(api):
    result = await api.anonymous.get("/api/tags", headers={"X-Padding": "x" * 900})
    assert result.status == 200


async def test_a_request_line_over_the_limit_is_414_problem(api, expect_problem):
    result = await api.anonymous.get("/api/tags?filter=" + "x" * 2000)
    assert "ENGINE_MAX_LINE_SIZE" in expect_problem(result, 414)["detail"]


async def test_a_long_path_is_414_problem(api, expect_problem):
    expect_problem(await api.anonymous.get("/" + "p" * 2000), 414)


async def test_too_many_headers_are_431_problem(api, expect_problem):
    headers = {f"X-Extra-{n}": "1" for n in range(30)}
    result = await api.anonymous.get("/api/tags", headers=headers)
    assert "ENGINE_MAX_HEADERS" in expect_problem(result, 431)["detail"]


async def test_a_malformed_request_is_400_problem(api):
    """Raw bytes: a request line aiohttp's client would never send."""
    import asyncio

    import orjson

    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", head
    assert b"application/problem+json" in head
    assert orjson.loads(body)["status"] == 400


def test_the_wrapped_aiohttp_method_keeps_the_shape_the_wrapper_relies_on():
    """Canary for engine.http.parse_errors: a new aiohttp that changes these fails here first."""
    import inspect

    from aiohttp.http_exceptions import LineTooLong

    from engine.http import parse_errors

    parameters = list(inspect.signature(parse_errors._AIOHTTP_HANDLE_ERROR).parameters)
    assert parameters == ["self", "request", "status", "exc", "message"]
    assert LineTooLong(b"/x", 10).args[:2] == (b"/x", 10)


async def _raw_answer(api, request: bytes) -> tuple[bytes, bytes]:
    """The status line and headers, and the body, of one raw request (the server may keep the
    connection open: the body is read to its Content-Length, within a few seconds)."""
    import asyncio

    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(request)
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        body = await asyncio.wait_for(reader.readexactly(length), 5)
    finally:
        writer.close()
    return head, body


async def test_a_declared_length_over_the_limit_is_413_without_waiting_for_the_body(api):
    import orjson

    token = api.token("alice", [])
    head, body = await _raw_answer(
        api,
        b"POST /api/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 99999999\r\n\r\n{}",
    )
    assert head.split(b" ")[1] == b"413", head
    assert orjson.loads(body)["status"] == 413


async def test_a_body_that_does_not_decode_as_its_content_encoding_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    problem = expect_problem(await alice.post("/api/notes", data=b'{"title": "t"}', headers=headers), 400)
    assert "gzip" in problem["detail"]


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, deflate"])
async def test_a_body_in_a_coding_the_server_does_not_decode_is_415_naming_those_it_does(api, expect_problem, coding):
    alice = await api.as_user("alice")
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    answer = await alice.post("/api/notes", data=b'{"title": "t"}', headers=headers)
    problem = expect_problem(answer, 415)
    assert answer.headers["Accept-Encoding"] == "gzip, deflate"
    assert "gzip or deflate" in problem["detail"] and "install" not in problem["detail"]
    assert await api.sql("select * from notes") == []


async def test_a_gzip_body_is_decoded(api):
    import gzip

    alice = await api.as_user("alice")
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    created = await alice.post("/api/notes", data=gzip.compress(b'{"title": "zipped"}'), headers=headers)
    assert created.status == 201, created.text
    assert created.json["data"]["title"] == "zipped"


async def test_a_body_that_does_not_decode_closes_the_connection_and_logs_no_unhandled_error(api, caplog):
    """What follows the bytes that failed cannot be trusted to be where a next request starts: the
    400 is the connection's last answer, and aiohttp does not read on and log the failure again."""
    import asyncio
    import logging

    caplog.set_level(logging.ERROR, logger="aiohttp.server")
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    body = b"this is not gzip at all." + smuggled
    head = (
        "POST /api/notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Authorization: Bearer {api.token('alice')}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(head + body[:24])
    await writer.drain()
    await asyncio.sleep(0.2)  # the server has failed to decode the first bytes
    writer.write(body[24:])
    await writer.drain()
    answered = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    assert answered.count(b"HTTP/1.1 ") == 1 and answered.startswith(b"HTTP/1.1 400 ")
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]


class TestWithoutTheInputLimitsPlugin:
    """The body readers refuse a coding they would read as plain whichever plugins run."""

    @pytest.fixture
    def engine_spec(self, engine_spec):
        import dataclasses

        return dataclasses.replace(engine_spec, disabled_plugins=(*engine_spec.disabled_plugins, "input_limits"))

    @pytest.mark.parametrize("path", ["/api/notes", "/api/notes?on_conflict=id"])
    async def test_a_body_in_an_unknown_coding_is_still_415(self, api, expect_problem, path):
        alice = await api.as_user("alice")
        headers = {"Content-Type": "application/json", "Content-Encoding": "compress"}
        expect_problem(await alice.post(path, data=b'{"title": "t"}', headers=headers), 415)
