"""CORS: listed origins may call the API with credentials, preflights are answered, others get nothing."""

from __future__ import annotations

import os

import pytest

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")
APP = "https://app.example.com"
OTHER = "https://other.example.net"


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_CORS_ORIGINS": f"{APP}, http://localhost:5173"}


def preflight(origin: str, method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_a_preflight_from_a_listed_origin_is_answered(api):
    result = await api.anonymous.request("OPTIONS", "/api/notes", headers=preflight(APP))
    assert result.status == 200
    assert result.headers["Access-Control-Allow-Origin"] == APP
    assert result.headers["Access-Control-Allow-Credentials"] == "true"
    assert result.headers["Access-Control-Allow-Methods"] == "POST"
    assert set(result.headers["Access-Control-Allow-Headers"].lower().split(",")) == {"authorization", "content-type"}


async def test_a_preflight_from_an_unlisted_origin_is_refused(api, expect_problem):
    result = await api.anonymous.request("OPTIONS", "/api/notes", headers=preflight(OTHER))
    expect_problem(result, 403)
    assert "Access-Control-Allow-Origin" not in result.headers


async def test_a_preflight_for_a_method_the_path_lacks_is_refused(api, expect_problem):
    expect_problem(await api.anonymous.request("OPTIONS", "/api/notes", headers=preflight(APP, "PUT")), 403)


async def test_a_preflight_for_an_unknown_header_is_refused(api, expect_problem):
    result = await api.anonymous.request("OPTIONS", "/api/notes", headers=preflight(APP, "GET", "x-secret-thing"))
    expect_problem(result, 403)


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        (OTHER, "POST", "content-type", "origin"),
        (APP, "PUT", "content-type", "method 'PUT'"),
        (APP, "GET", "x-secret-thing", "X-SECRET-THING"),
    ],
)
async def test_a_refused_preflight_is_a_forbidden_problem_saying_why(
    api, expect_problem, origin, method, headers, reason
):
    result = await api.anonymous.request("OPTIONS", "/api/notes", headers=preflight(origin, method, headers))
    body = expect_problem(result, 403)
    assert body["type"].endswith("/forbidden")
    assert body["detail"].startswith("CORS preflight request failed") and reason in body["detail"]


async def test_a_listed_origin_may_send_the_mcp_protocol_version_header(api):
    headers = preflight(APP, "POST", "authorization, content-type, mcp-protocol-version")
    result = await api.anonymous.request("OPTIONS", "/mcp", headers=headers)
    assert result.status == 200
    assert "mcp-protocol-version" in result.headers["Access-Control-Allow-Headers"].lower().split(",")


async def test_a_listed_origin_may_send_credentials_and_read_our_headers(api):
    alice = await api.as_user("alice")
    result = await alice.get("/api/notes", headers={"Origin": APP})
    assert result.headers["Access-Control-Allow-Origin"] == APP
    assert result.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = result.headers["Access-Control-Expose-Headers"].split(",")
    assert {"ETag", "RateLimit-Remaining", "Retry-After", "Location"} <= set(exposed)


async def test_a_listed_origin_may_send_prefer_and_read_preference_applied(api):
    asked = await api.anonymous.request("OPTIONS", "/api/tags", headers=preflight(APP, "GET", "prefer"))
    assert asked.status == 200 and asked.headers["Access-Control-Allow-Headers"].lower() == "prefer"
    counted = await api.anonymous.get("/api/tags", headers={"Origin": APP, "Prefer": "count=exact"})
    assert counted.headers["Preference-Applied"] == "count=exact"
    assert "Preference-Applied" in counted.headers["Access-Control-Expose-Headers"].split(",")


async def test_error_responses_carry_cors_headers_for_a_listed_origin(api):
    result = await api.anonymous.get("/api/notes", headers={"Origin": APP})
    assert result.status == 401
    assert result.headers["Access-Control-Allow-Origin"] == APP


async def test_an_unlisted_origin_gets_no_cors_headers(api):
    result = await api.anonymous.get("/api/tags", headers={"Origin": OTHER})
    assert result.status == 200
    assert "Access-Control-Allow-Origin" not in result.headers
    assert "Access-Control-Allow-Credentials" not in result.headers


async def test_answers_vary_on_origin(api):
    assert "Origin" in (await api.anonymous.get("/api/tags")).headers["Vary"]


class TestWildcard:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_CORS_ORIGINS": f"{APP},*"}

    async def test_any_origin_may_read_but_without_credentials(self, api):
        result = await api.anonymous.get("/api/tags", headers={"Origin": OTHER})
        assert result.headers["Access-Control-Allow-Origin"] == OTHER
        assert "Access-Control-Allow-Credentials" not in result.headers

    async def test_a_listed_origin_keeps_its_credentials(self, api):
        result = await api.anonymous.get("/api/tags", headers={"Origin": APP})
        assert result.headers["Access-Control-Allow-Credentials"] == "true"


class TestFromResourcesYaml:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in engine_env.items() if k != "ENGINE_CORS_ORIGINS"}

    async def test_settings_cors_origins_lists_the_origins(self, api):
        result = await api.anonymous.request("OPTIONS", "/api/tags", headers=preflight(APP, "GET", "authorization"))
        assert result.headers["Access-Control-Allow-Origin"] == APP


class TestSwitchedOff:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_CORS_ORIGINS": ""}

    async def test_an_empty_variable_allows_no_origin(self, api):
        result = await api.anonymous.get("/api/tags", headers={"Origin": APP})
        assert "Access-Control-Allow-Origin" not in result.headers

    async def test_preflights_are_not_answered(self, api, expect_problem):
        expect_problem(await api.anonymous.request("OPTIONS", "/api/tags", headers=preflight(APP, "GET")), 405)


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/path", "ftp://app.example.com"])
def test_a_malformed_origin_stops_the_server_at_start_up(engine_spec, engine_env, origin):
    config = Config.from_env(engine_spec, env={**engine_env, "ENGINE_CORS_ORIGINS": origin})
    with pytest.raises(ConfigurationError, match="ENGINE_CORS_ORIGINS"):
        create_app(engine_spec, config)
