"""Security headers on every response; HTML pages get a strict Content-Security-Policy; HSTS in production."""

from __future__ import annotations

import os

import pytest
from aiohttp import web

from engine.kernel.hooks import hookimpl
from engine.testing import PRODUCTION_TOKEN_CLAIMS

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")
PAGE = "<!doctype html><title>page</title><p>hello</p>"


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def page_with_own_policy(request: web.Request) -> web.Response:
    response = web.Response(text=PAGE, content_type="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    return response


class Pages:
    @hookimpl
    def register_routes(self, app, spec):
        return [web.get("/test/page", page), web.get("/test/own-policy", page_with_own_policy)]


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_plugins() -> list:
    return [Pages()]


async def test_json_responses_forbid_sniffing_and_referrers(api):
    result = await api.anonymous.get("/api/tags")
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    assert result.headers["Referrer-Policy"] == "no-referrer"


async def test_problem_responses_carry_the_headers_too(api, expect_problem):
    result = await api.anonymous.get("/api/nowhere")
    expect_problem(result, 404)
    assert result.headers["X-Content-Type-Options"] == "nosniff"


async def test_not_modified_responses_carry_the_headers_too(api):
    first = await api.anonymous.get("/api/tags")
    again = await api.anonymous.get("/api/tags", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert again.headers["X-Content-Type-Options"] == "nosniff"


async def test_html_pages_get_a_strict_content_security_policy(api):
    result = await api.anonymous.get("/test/page")
    policy = result.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert result.headers["X-Frame-Options"] == "DENY"


async def test_a_page_with_its_own_policy_keeps_it(api):
    result = await api.anonymous.get("/test/own-policy")
    assert result.headers["Content-Security-Policy"] == "default-src 'self'; frame-ancestors 'none'"


async def test_json_responses_get_no_page_policy(api):
    result = await api.anonymous.get("/api/tags")
    assert "X-Frame-Options" not in result.headers
    assert "Content-Security-Policy" not in result.headers


async def test_no_hsts_outside_production(api):
    assert "Strict-Transport-Security" not in (await api.anonymous.get("/api/tags")).headers


class TestProduction:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, **PRODUCTION_TOKEN_CLAIMS, "ENGINE_ENV": "production", "ENGINE_SESSION_SECRET": "s" * 64}

    async def test_production_responses_carry_hsts(self, api):
        result = await api.anonymous.get("/api/tags")
        assert result.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"

    async def test_errors_in_production_carry_hsts_too(self, api):
        result = await api.anonymous.get("/api/nowhere")
        assert result.status == 404 and "Strict-Transport-Security" in result.headers


class TestConfigured:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**engine_env, "ENGINE_REFERRER_POLICY": "same-origin", "ENGINE_HTML_CSP": "default-src 'self'"}

    async def test_the_referrer_policy_is_configurable(self, api):
        assert (await api.anonymous.get("/api/tags")).headers["Referrer-Policy"] == "same-origin"

    async def test_the_page_policy_is_configurable(self, api):
        assert (await api.anonymous.get("/test/page")).headers["Content-Security-Policy"] == "default-src 'self'"
