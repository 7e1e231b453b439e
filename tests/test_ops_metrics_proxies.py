"""/metrics behind a reverse proxy: a request through a trusted proxy is judged by the forwarded
client address, and one that carries forwarding headers from an untrusted peer by no address."""

from __future__ import annotations

import pytest

INTERNET = {"X-Forwarded-For": "203.0.113.9"}


async def test_a_loopback_scrape_without_proxy_headers_is_served(api):
    assert (await api.anonymous.get("/metrics")).status == 200


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
async def test_a_loopback_request_forwarded_by_an_untrusted_proxy_is_403(api, expect_problem, header):
    result = await api.anonymous.get("/metrics", headers={header: "203.0.113.9"})
    expect_problem(result, 403)


class TestTrustedProxy:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_TRUSTED_PROXIES": "127.0.0.1"}

    async def test_an_internet_client_behind_the_proxy_is_403(self, api, expect_problem):
        assert "203.0.113.9" in expect_problem(await api.anonymous.get("/metrics", headers=INTERNET), 403)["detail"]

    async def test_a_local_client_behind_the_proxy_is_served(self, api):
        assert (await api.anonymous.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status == 200

    async def test_a_forwarded_address_that_is_not_an_address_is_403(self, api, expect_problem):
        expect_problem(await api.anonymous.get("/metrics", headers={"X-Forwarded-For": "unknown"}), 403)

    async def test_the_proxy_itself_scraping_without_forwarding_is_served(self, api):
        assert (await api.anonymous.get("/metrics")).status == 200


class TestTrustedProxyWithAllowList:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_TRUSTED_PROXIES": "127.0.0.1", "ENGINE_METRICS_ALLOW": "10.0.0.0/8"}

    async def test_a_forwarded_client_in_the_allowed_networks_is_served(self, api):
        assert (await api.anonymous.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})).status == 200


class TestAllowAny:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_METRICS_ALLOW": "*"}

    async def test_any_allows_a_request_through_an_unknown_proxy(self, api):
        assert (await api.anonymous.get("/metrics", headers=INTERNET)).status == 200
