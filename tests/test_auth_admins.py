"""ENGINE_ADMINS: the declared source of the `admin` role for users who sign in with Google.

A named user id or verified e-mail signs in as an admin; the role is carried into the session and
into the tokens `/auth/token` issues from it. Everyone else signs in as an ordinary user.
"""

from __future__ import annotations

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture, sign_in  # noqa: F401

from engine.testing import ApiClient


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider, ENGINE_ADMINS="someone-else, ADA@example.test")


async def csrf_headers(api) -> dict[str, str]:
    token = (await api.anonymous.get("/auth/csrf")).json["csrf_token"]
    return {"X-CSRF-Token": token}


async def test_a_verified_email_named_in_engine_admins_signs_in_as_admin(api, oidc_provider):
    await sign_in(api)
    await api.as_user("bob")
    assert (await api.anonymous.get("/api/users/bob")).status == 200  # another user's row: admins read it


async def test_the_admin_role_is_carried_into_issued_tokens(api, oidc_provider):
    await sign_in(api)
    await api.as_user("bob")
    tokens = await api.anonymous.post("/auth/token", headers=await csrf_headers(api))
    assert tokens.status == 200, tokens.text
    bearer = ApiClient(api.client, {"Authorization": f"Bearer {tokens.json['access_token']}"})
    assert (await bearer.get("/api/users/bob")).status == 200


class TestWithoutEngineAdmins:
    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider)

    async def test_a_google_user_not_named_is_an_ordinary_user(self, api, oidc_provider):
        await sign_in(api)
        await api.as_user("bob")
        assert (await api.anonymous.get("/api/users/bob")).status == 404
