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


# aiohttp refuses these while parsing, before the app (and its problem+json) is reached; the
# configured limits (1024) are far below aiohttp's defaults (8190), so a refusal proves they apply.


async def test_a_header_over_the_size_limit_is_refused_before_the_engine(api):
    result = await api.anonymous.get("/api/tags", headers={"X-Padding": "x" * 2000})
    assert result.status == 400
    assert "Got more than 1024 bytes" in result.text


async def test_a_header_within_the_size_limit_is_accepted(api):
    result = await api.anonymous.get("/api/tags", headers={"X-Padding": "x" * 900})
    assert result.status == 200


async def test_a_request_line_over_the_limit_is_refused(api):
    result = await api.anonymous.get("/api/tags?filter=" + "x" * 2000)
    assert result.status == 400
    assert "Got more than 1024 bytes" in result.text


async def test_too_many_headers_are_refused(api):
    headers = {f"X-Extra-{n}": "1" for n in range(30)}
    result = await api.anonymous.get("/api/tags", headers=headers)
    assert result.status == 400
    assert "Too many headers" in result.text
