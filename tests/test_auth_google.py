"""Google sign-in against a real stand-in OpenID provider on localhost: the whole flow and its attacks.

Every refused callback is a problem response that leaves no signed-in session and no users row.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from stand_in_oidc_provider import (  # noqa: F401
    CLIENT_ID,
    google_env,
    oidc_provider_fixture,
    path_of,
    sign_in,
    visit_provider,
)


@pytest.fixture
def engine_env(oidc_provider):
    return google_env(oidc_provider)


async def assert_refused(result, words):
    assert result.status == 400, result.text
    assert result.json["type"].endswith("/sign-in-refused")
    assert words in result.json["detail"]


async def assert_no_session(api):
    assert (await api.anonymous.get("/api/me")).status == 401
    assert (await api.sql("select count(*) as n from users"))[0]["n"] == 0


async def start_and_visit(api):
    """login + the provider's answer: the callback URL the browser would follow next."""
    login = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    return await visit_provider(login.headers["Location"])


def with_query(url, **changes):
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


# --- the flow --------------------------------------------------------------------------------------


async def test_login_redirects_to_the_provider_with_state_nonce_and_pkce(api, oidc_provider):
    result = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    assert result.status == 302
    location = urlsplit(result.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{oidc_provider.issuer}/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and len(query["code_challenge"]) == 43
    assert query["redirect_uri"].endswith("/auth/google/callback")
    assert "openid" in query["scope"].split()


async def test_sign_in_creates_the_user_and_redirects_to_the_login_redirect(api, oidc_provider):
    result = await sign_in(api)
    assert result.status == 302
    assert result.headers["Location"] == "/signed-in"
    rows = await api.sql("select google_id, email, name from users")
    assert [dict(r) for r in rows] == [
        {"google_id": "google-1001", "email": "ada@example.test", "name": "Ada Lovelace"}
    ]


async def test_a_signed_in_browser_gets_its_user_from_api_me(api, oidc_provider):
    await sign_in(api)
    me = await api.anonymous.get("/api/me")
    assert me.status == 200
    assert me.json["data"]["email"] == "ada@example.test"


async def test_signing_in_again_updates_the_same_user(api, oidc_provider):
    await sign_in(api)
    oidc_provider.user["name"] = "Ada King"
    await sign_in(api)
    rows = await api.sql("select name from users")
    assert [r["name"] for r in rows] == ["Ada King"]


async def test_a_user_with_the_same_verified_email_is_linked_not_duplicated(api, oidc_provider):
    await api.as_user("ada")  # email ada@example.test
    await sign_in(api)
    me = await api.anonymous.get("/api/me")
    assert me.json["data"]["id"] == "ada"
    assert me.json["data"]["google_id"] == "google-1001"


async def test_an_email_owned_by_another_google_account_is_refused(api, oidc_provider):
    await api.as_admin()
    await api.sql("insert into users (id, email, google_id) values ('ada', 'ada@example.test', 'google-9999')")
    await assert_refused(await sign_in(api), "another Google account")


async def test_the_session_from_before_sign_in_is_not_signed_in(api, oidc_provider):
    login = await api.anonymous.get("/auth/google/login", allow_redirects=False)
    planted = login.headers["Set-Cookie"].split(";")[0]  # what an attacker could have planted
    callback = await visit_provider(login.headers["Location"])
    await api.anonymous.get(path_of(callback), allow_redirects=False)
    assert (await api.anonymous.get("/api/me")).status == 200
    api.client.session.cookie_jar.clear()
    assert (await api.anonymous.get("/api/me", headers={"Cookie": planted})).status == 401


async def test_session_cookie_is_http_only_and_same_site_lax(api, oidc_provider):
    result = await sign_in(api)
    cookie = result.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# --- the attacks -----------------------------------------------------------------------------------


async def test_a_callback_with_the_wrong_state_is_refused(api, oidc_provider):
    callback = await start_and_visit(api)
    result = await api.anonymous.get(with_query(callback, state="forged-state"), allow_redirects=False)
    await assert_refused(result, "state")
    await assert_no_session(api)


async def test_a_callback_without_a_sign_in_in_progress_is_refused(api, oidc_provider):
    result = await api.anonymous.get("/auth/google/callback?code=abc&state=def", allow_redirects=False)
    await assert_refused(result, "no sign-in is in progress")
    await assert_no_session(api)


async def test_a_replayed_code_is_refused_and_ends_the_session(api, oidc_provider):
    first = await start_and_visit(api)
    assert (await api.anonymous.get(path_of(first), allow_redirects=False)).status == 302
    second = await start_and_visit(api)
    replayed = with_query(second, code=parse_qs(urlsplit(first).query)["code"][0])
    await assert_refused(await api.anonymous.get(replayed, allow_redirects=False), "invalid_grant")
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_a_code_issued_to_another_browser_fails_pkce(api, oidc_provider):
    victims = await start_and_visit(api)
    api.client.session.cookie_jar.clear()
    attackers = await start_and_visit(api)
    stolen = with_query(attackers, code=parse_qs(urlsplit(victims).query)["code"][0])
    await assert_refused(await api.anonymous.get(stolen, allow_redirects=False), "invalid_grant")
    await assert_no_session(api)


async def test_an_id_token_with_a_bad_signature_is_refused(api, oidc_provider):
    oidc_provider.sign_with_foreign_key = True
    await assert_refused(await sign_in(api), "signature")
    await assert_no_session(api)


async def test_an_id_token_for_another_audience_is_refused(api, oidc_provider):
    oidc_provider.id_token_claims = {"aud": "another-client.apps.example.test"}
    await assert_refused(await sign_in(api), "another client")
    await assert_no_session(api)


async def test_an_id_token_from_another_issuer_is_refused(api, oidc_provider):
    oidc_provider.id_token_claims = {"iss": "https://evil.example.test"}
    await assert_refused(await sign_in(api), "another issuer")
    await assert_no_session(api)


async def test_an_expired_id_token_is_refused(api, oidc_provider):
    oidc_provider.id_token_claims = {"exp": int(time.time()) - 3600}
    await assert_refused(await sign_in(api), "expired")
    await assert_no_session(api)


async def test_an_id_token_without_nonce_is_refused(api, oidc_provider):
    oidc_provider.id_token_claims = {"nonce": None}
    await assert_refused(await sign_in(api), "no nonce")
    await assert_no_session(api)


async def test_an_id_token_with_another_sign_ins_nonce_is_refused(api, oidc_provider):
    oidc_provider.id_token_claims = {"nonce": "nonce-of-another-sign-in"}
    await assert_refused(await sign_in(api), "nonce")
    await assert_no_session(api)


async def test_an_account_without_a_verified_email_is_refused(api, oidc_provider):
    oidc_provider.user["email_verified"] = False
    await assert_refused(await sign_in(api), "verified email")
    await assert_no_session(api)


async def test_a_provider_error_in_the_callback_is_refused(api, oidc_provider):
    callback = await start_and_visit(api)
    result = await api.anonymous.get(with_query(callback, error="access_denied"), allow_redirects=False)
    await assert_refused(result, "access_denied")
    await assert_no_session(api)


async def test_a_refused_callback_signs_out_a_signed_in_browser(api, oidc_provider):
    await sign_in(api)
    callback = await start_and_visit(api)
    await api.anonymous.get(with_query(callback, state="forged-state"), allow_redirects=False)
    assert (await api.anonymous.get("/api/me")).status == 401


class TestNotConfigured:
    @pytest.fixture
    def engine_env(self):
        return {"ENGINE_ENV": "development"}

    async def test_login_says_google_sign_in_is_not_configured(self, api):
        result = await api.anonymous.get("/auth/google/login", allow_redirects=False)
        assert result.status == 404
        assert "ENGINE_GOOGLE_CLIENT_ID" in result.json["detail"]


async def sign_in_with_next(api, next_value: str):
    login = await api.anonymous.get("/auth/google/login", params={"next": next_value}, allow_redirects=False)
    assert login.status == 302, login.text
    return await api.anonymous.get(path_of(await visit_provider(login.headers["Location"])), allow_redirects=False)


async def test_sign_in_comes_back_to_the_page_named_by_next(api, oidc_provider):
    result = await sign_in_with_next(api, "/console/r/agents?sort=-name")
    assert result.status == 302
    assert result.headers["Location"] == "/console/r/agents?sort=-name"


@pytest.mark.parametrize("elsewhere", ["https://evil.test/", "//evil.test/x", "/\\evil.test", "console"])
async def test_a_next_that_is_not_a_path_here_goes_to_the_login_redirect(api, oidc_provider, elsewhere):
    result = await sign_in_with_next(api, elsewhere)
    assert result.status == 302
    assert result.headers["Location"] == "/signed-in"
