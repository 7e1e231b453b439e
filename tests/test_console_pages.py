"""/console served by the engine: sign-in, CSRF, headers, and pages generated from any spec.

The browser-driven flows live in test_console_browser.py; these check what the server answers.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import aiohttp
import jwt
import pytest
from team_helpers import add_member, create_agent, create_team, share_agent

from engine import hookimpl
from engine.testing import PRODUCTION_TOKEN_CLAIMS, TEST_JWT_SECRET

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf_of(client, path: str = "/console/signin") -> str:
    page = await client.get(path)
    return CSRF.search(page.text).group(1)


async def sign_in(api, token: str):
    """Sign the test client's browser in with a pasted token; returns the form's answer."""
    client = api.anonymous
    csrf = await csrf_of(client)
    return await client.post(
        "/console/signin", data={"csrf_token": csrf, "token": token, "next": "/console"}, allow_redirects=False
    )


async def test_a_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_page(api):
    result = await api.anonymous.get("/console/r/agents", allow_redirects=False)
    assert result.status == 302
    assert unquote(result.headers["Location"]) == "/console/signin?next=/console/r/agents"


async def test_a_pasted_token_signs_the_browser_in_as_its_user(api):
    await api.as_user("alice")
    result = await sign_in(api, api.token("alice"))
    assert result.status == 303 and result.headers["Location"] == "/console"
    assert (await api.anonymous.get("/api/me")).json["data"]["id"] == "alice"


async def test_a_pasted_token_of_a_deleted_user_is_refused_with_the_reason(api):
    await api.as_user("alice")
    admin = await api.as_admin()
    assert (await admin.delete("/api/users/alice")).status == 204
    result = await sign_in(api, api.token("alice"))
    assert result.status == 401 and "user was deleted" in result.text.replace("&#39;", "'")
    assert (
        "engine_session=" not in result.headers.get("Set-Cookie", "")
        or (await api.anonymous.get("/api/me")).status == 401
    )


async def test_a_page_opened_with_a_session_ended_elsewhere_goes_to_the_sign_in_page(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    elsewhere = {"Authorization": f"Bearer {api.token('alice')}"}  # another device: no cookie of this browser
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as device:
        async with device.post(api.client.make_url("/auth/logout?all=true"), headers=elsewhere) as signed_out:
            assert signed_out.status == 204  # signed out everywhere
    result = await api.anonymous.get("/console/r/agents", allow_redirects=False)
    assert result.status == 302 and result.headers["Location"].startswith("/console/signin?next=")
    assert "engine_session=" in result.headers["Set-Cookie"]  # the stale cookie is cleared
    assert (await api.anonymous.get("/console/signin")).status == 200


async def test_token_sign_in_without_the_forms_csrf_field_is_403(api, expect_problem):
    await api.anonymous.get("/console/signin")
    result = await api.anonymous.post("/console/signin", data={"token": api.token("alice")})
    expect_problem(result, 403)
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_an_invalid_token_shows_the_sign_in_page_with_an_error(api):
    result = await sign_in(api, "not-a-token")
    assert result.status == 401
    assert "not valid" in result.text and 'id="token-form"' in result.text


@pytest.mark.parametrize("sub, roles", [("a\x00b", []), ("\ud800", []), ("alice", ["\udfff"]), ("alice", ["x\x00"])])
async def test_a_token_naming_a_user_or_role_the_database_cannot_store_is_refused_not_a_500(api, sub, roles):
    token = jwt.encode({"sub": sub, "roles": roles, "exp": 4_000_000_000}, TEST_JWT_SECRET, algorithm="HS256")
    result = await sign_in(api, token)
    assert result.status == 401
    assert "not valid" in result.text
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_sign_in_never_redirects_to_another_site(api):
    await api.as_user("alice")
    csrf = await csrf_of(api.anonymous)
    form = {"csrf_token": csrf, "token": api.token("alice"), "next": "//evil.example/console"}
    result = await api.anonymous.post("/console/signin", data=form, allow_redirects=False)
    assert result.headers["Location"] == "/console"


async def test_signing_out_needs_the_csrf_field_and_ends_the_session(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    expect_problem(await api.anonymous.post("/console/signout", data={}), 403)
    csrf = await csrf_of(api.anonymous, "/console")
    result = await api.anonymous.post("/console/signout", data={"csrf_token": csrf}, allow_redirects=False)
    assert result.status == 303
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_console_writes_through_the_api_need_the_csrf_header(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    expect_problem(await api.anonymous.post("/api/agents", json={"name": "No token"}), 403)
    csrf = await csrf_of(api.anonymous, "/console")
    created = await api.anonymous.post("/api/agents", json={"name": "With token"}, headers={"X-CSRF-Token": csrf})
    assert created.status == 201


@pytest.mark.parametrize("path", ["/console", "/console/r/agents", "/console/r/agents/new", "/console/admin"])
async def test_pages_send_a_strict_csp_and_have_no_inline_script_or_style(api, path):
    await api.as_admin()
    await sign_in(api, api.token("admin", ["admin"]))
    page = await api.anonymous.get(path)
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert " style=" not in page.text and "<style" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from another origin


async def test_the_admin_page_is_a_403_page_for_an_ordinary_user(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    page = await api.anonymous.get("/console/admin")
    assert page.status == 403 and page.headers["Content-Type"].startswith("text/html")
    assert "the admin page is for admins" in page.text


async def test_the_admin_page_shows_resources_rules_routes_and_migrations(api):
    await api.as_admin()
    await sign_in(api, api.token("admin", ["admin"]))
    page = (await api.anonymous.get("/console/admin")).text
    assert 'id="spec-agents"' in page and "system_prompt" in page
    assert "team_agents.agent_id" in page  # an access rule
    assert "/api/agents/{id}" in page  # a route
    assert "0001_" in page and "applied" in page  # a migration file and its status


async def test_the_resource_list_shows_only_resources_the_user_may_list(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    page = (await api.anonymous.get("/console")).text
    assert 'href="/console/r/agents"' in page
    assert "<code>/api/team_members</code>" not in page  # admins only
    assert 'href="/console/r/team_members"' not in page  # nor in the navigation


async def test_the_filter_form_becomes_the_list_apis_query_string(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    query = "f=name&op=ilike&v=Plan*&f=status&op=eq&v=active&col=name&sort=-name&apply=1"
    result = await api.anonymous.get(f"/console/r/agents?{query}", allow_redirects=False)
    assert result.status == 302
    assert unquote(result.headers["Location"]) == (
        "/console/r/agents?name[ilike]=Plan*&status=active&fields=id,name&sort=-name"
    )


async def test_the_edit_form_follows_the_json_schema(api):
    agent = await create_agent(await api.as_user("alice"))
    await sign_in(api, api.token("alice"))
    page = (await api.anonymous.get(f"/console/r/agents/{agent}/edit")).text
    assert re.search(r'<select id="field-status" name="status"', page)  # an enum
    assert '<option value="paused">' in page
    assert re.search(r'<textarea id="field-tools"', page)  # an array: the JSON editor
    assert re.search(r'<input type="text" id="field-id" name="id"[^>]* readonly', page)  # read-only
    assert re.search(r'<textarea id="field-secrets"', page)  # writeOnly: writable ...
    assert "Write-only: never shown" in page  # ... and never filled in (the script skips it)


async def test_the_owner_field_is_for_admins_only(api):
    agent = await create_agent(await api.as_user("alice"))
    await sign_in(api, api.token("alice"))
    assert 'id="field-user_id"' not in (await api.anonymous.get("/console/r/agents/new")).text
    edit = (await api.anonymous.get(f"/console/r/agents/{agent}/edit")).text
    assert re.search(r'<input type="text" id="field-user_id" name="user_id"[^>]* readonly', edit)
    assert "only admins change it" in edit


async def test_an_admin_may_set_the_owner(api):
    await api.as_admin()
    await sign_in(api, api.token("admin", ["admin"]))
    form = (await api.anonymous.get("/console/r/agents/new")).text
    assert re.search(r'<input type="text" id="field-user_id" name="user_id"(?![^>]*readonly)[^>]*>', form)


class TestAGenericSpec:
    """A resource added to resources.yaml appears in the console with no code."""

    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        schema = schema_of(
            {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "title": {"type": "string", "title": "Book title", "maxLength": 100},
                "pages": {"type": "integer"},
                "in_print": {"type": "boolean"},
                "published_at": {"type": "string", "format": "date-time"},
            },
            required=["title"],
        )
        yaml = """
            version: 1
            resources:
              books:
                schema: schemas/book.json
                permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
        """
        return str(write_spec(yaml, {"schemas/book.json": schema}))

    async def test_a_new_resource_gets_a_table_and_a_form(self, api):
        await sign_in(api, api.token("reader"))
        assert 'href="/console/r/books"' in (await api.anonymous.get("/console")).text
        table = (await api.anonymous.get("/console/r/books")).text
        assert 'data-field="title"' in table and 'data-field="pages"' in table
        form = (await api.anonymous.get("/console/r/books/new")).text
        assert '<label for="field-title">Book title' in form
        assert '<input type="number" id="field-pages" name="pages" step="1"' in form
        assert '<input type="checkbox" id="field-in_print"' in form
        assert '<input type="datetime-local" step="1" id="field-published_at"' in form
        assert 'id="field-id"' not in form  # read-only: not on the create form


async def test_an_unknown_resource_is_a_404_page(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    page = await api.anonymous.get("/console/r/nothing")
    assert page.status == 404 and "no resource &#39;nothing&#39;" in page.text  # escaped


async def test_static_files_are_served_with_an_etag_and_unknown_ones_are_404(api, expect_problem):
    script = await api.anonymous.get("/console/static/console.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    again = await api.anonymous.get("/console/static/console.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status == 304
    expect_problem(await api.anonymous.get("/console/static/other.js"), 404)


class TestProduction:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, **PRODUCTION_TOKEN_CLAIMS, "ENGINE_ENV": "production"}

    async def test_token_sign_in_is_off_in_production(self, api, expect_problem):
        page = await api.anonymous.get("/console/signin")
        assert 'id="token-form"' not in page.text
        csrf = CSRF.search(page.text)
        assert csrf is None  # no form at all without Google sign-in configured
        expect_problem(await api.anonymous.post("/console/signin", data={"token": api.token("alice")}), 404)


class TestWithoutSessions:
    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        yaml = """
            version: 1
            plugins: {disabled: [sessions, refresh_tokens, google_oauth]}
            resources:
              notes:
                schema: schemas/note.json
        """
        note = schema_of({"id": {"type": "string", "format": "uuid", "readOnly": True}, "text": {"type": "string"}})
        return str(write_spec(yaml, {"schemas/note.json": note}))

    async def test_the_console_serves_nothing_without_sessions(self, api, expect_problem):
        expect_problem(await api.anonymous.get("/console"), 404)


async def test_a_malformed_form_body_on_a_signed_in_session_is_403_not_500(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    broken = b"--b\r\nContent-Disposition: form-data\r\n\r\nno name and no end"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    expect_problem(await api.anonymous.post("/console/signout", data=broken, headers=headers), 403)


async def test_the_search_box_appears_only_where_the_resource_declares_search(api):
    await api.as_admin()
    await sign_in(api, api.token("admin", ["admin"]))
    agents = (await api.anonymous.get("/console/r/agents")).text  # agents declare `search:`
    users = (await api.anonymous.get("/console/r/users")).text  # users do not
    assert 'id="search"' in agents and 'data-counts="true"' in agents
    assert 'id="search"' not in users and 'data-counts="true"' in users


class ListApiWithSearchAndCounts:
    """Stands for an engine whose list API documents `q` and `count` (the console reads OpenAPI)."""

    @hookimpl
    def register_openapi(self, document):
        operation = document["paths"]["/api/agents"]["get"]
        operation["parameters"] += [
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "count", "in": "query", "schema": {"enum": ["exact"]}},
        ]


class TestSearchAndCountsWhenTheApiHasThem:
    @pytest.fixture
    def engine_plugins(self):
        return [ListApiWithSearchAndCounts()]

    async def test_the_table_shows_a_search_box_and_asks_for_counts(self, api):
        await api.as_user("alice")
        await sign_in(api, api.token("alice"))
        page = (await api.anonymous.get("/console/r/agents?q=planner")).text
        assert '<input type="search" id="search" name="search" value="planner">' in page
        assert 'data-counts="true"' in page

    async def test_the_search_box_becomes_the_q_parameter(self, api):
        await api.as_user("alice")
        await sign_in(api, api.token("alice"))
        result = await api.anonymous.get("/console/r/agents?search=planner&apply=1", allow_redirects=False)
        assert result.headers["Location"] == "/console/r/agents?q=planner"


async def test_token_sign_in_with_a_forged_csrf_field_is_403(api, expect_problem):
    await api.as_user("alice")
    await csrf_of(api.anonymous)  # the browser has a session and its token; the form sends another
    form = {"csrf_token": "forged-" + "x" * 36, "token": api.token("alice"), "next": "/console"}
    expect_problem(await api.anonymous.post("/console/signin", data=form), 403)
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_token_sign_in_from_a_browser_that_never_loaded_the_form_is_403(api, expect_problem):
    await api.as_user("alice")
    form = {"csrf_token": "", "token": api.token("alice"), "next": "/console"}  # no session cookie at all
    expect_problem(await api.anonymous.post("/console/signin", data=form), 403)
    assert (await api.anonymous.get("/api/me")).status == 401


async def test_signing_out_with_a_forged_csrf_field_is_403_and_the_session_lives_on(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    expect_problem(await api.anonymous.post("/console/signout", data={"csrf_token": "forged"}), 403)
    assert (await api.anonymous.get("/api/me")).json["data"]["id"] == "alice"


async def test_a_console_write_with_a_forged_csrf_header_is_403(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    forged = {"X-CSRF-Token": "forged"}
    expect_problem(await api.anonymous.post("/api/agents", json={"name": "Forged"}, headers=forged), 403)
    assert (await api.with_token(api.token("alice")).get("/api/agents")).json["data"] == []


async def test_a_plain_form_posted_to_the_api_with_a_forged_csrf_field_is_403(api, expect_problem):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    expect_problem(await api.anonymous.post("/api/agents", data={"csrf_token": "forged", "name": "Forged"}), 403)


async def test_console_pages_carry_the_engines_security_headers(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    for path in ("/console/signin", "/console/r/agents", "/console/r/nothing"):
        page = await api.anonymous.get(path)
        assert page.headers["Referrer-Policy"] == "no-referrer", path
        assert page.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"], path


async def test_a_shared_rows_pages_never_carry_a_field_hidden_from_the_reader(api):
    await api.as_user("alice")
    bob = await api.as_user("bob")
    team_id = await create_team(bob, "Bob's team")
    await add_member(api, bob, team_id, "alice")
    shared = await create_agent(bob, "Bob shared agent", system_prompt="BOB-SHARED-PROMPT", secrets={"k": "S3CRET"})
    await share_agent(bob, team_id, shared)
    await sign_in(api, api.token("alice"))
    for path in (f"/console/r/agents/{shared}", "/console/r/agents?fields=id,name,system_prompt"):
        page = await api.anonymous.get(path)
        assert page.status == 200, path
        assert "BOB-SHARED-PROMPT" not in page.text and "S3CRET" not in page.text, path


async def test_another_users_row_in_the_console_url_is_a_404_page(api):
    bob = await api.as_user("bob")
    private = await create_agent(bob, "Bob private agent", system_prompt="BOB-PRIVATE-PROMPT")
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    for path in (f"/console/r/agents/{private}", f"/console/r/agents/{private}/edit"):
        page = await api.anonymous.get(path)
        assert page.status == 404 and page.headers["Content-Type"].startswith("text/html"), path
        assert "Bob private agent" not in page.text and 'id="row-form"' not in page.text, path


async def test_a_malformed_row_id_in_the_console_url_is_a_404_page(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    page = await api.anonymous.get("/console/r/agents/not-a-uuid")
    assert page.status == 404 and page.headers["Content-Type"].startswith("text/html")


async def test_the_buttons_say_what_they_do(api):
    agent = await create_agent(await api.as_user("alice"))
    await sign_in(api, api.token("alice"))
    create = (await api.anonymous.get("/console/r/agents/new")).text
    edit = (await api.anonymous.get(f"/console/r/agents/{agent}/edit")).text
    row = (await api.anonymous.get(f"/console/r/agents/{agent}")).text
    assert re.search(r'<button type="submit"[^>]*id="save-button"[^>]*>Create</button>', create)
    assert re.search(r'<button type="submit"[^>]*id="save-button"[^>]*>Save</button>', edit)
    assert re.search(r'<button type="button" id="delete-start"[^>]*>Delete…</button>', row)
    assert re.search(r'<button type="button" id="delete-confirm-button"[^>]*>Delete permanently</button>', row)


async def test_a_resource_the_user_may_not_list_is_a_403_page(api):
    await api.as_user("alice")
    await sign_in(api, api.token("alice"))
    page = await api.anonymous.get("/console/r/team_members")
    assert page.status == 403 and page.headers["Content-Type"].startswith("text/html")
    assert "you may not list team_members" in page.text


async def test_a_row_page_leaves_out_the_fields_hidden_from_the_reader_not_just_their_values(api):
    await api.as_user("alice")
    bob = await api.as_user("bob")
    team_id = await create_team(bob, "Bob's team")
    await add_member(api, bob, team_id, "alice")
    shared = await create_agent(bob, "Bob shared agent", system_prompt="BOB-SHARED-PROMPT")
    await share_agent(bob, team_id, shared)
    await sign_in(api, api.token("alice"))
    agent_page = (await api.anonymous.get(f"/console/r/agents/{shared}")).text
    assert 'data-field="name"' in agent_page and 'data-field="system_prompt"' not in agent_page
    bob_page = (await api.anonymous.get("/console/r/users/bob")).text  # a co-member: not his e-mail
    assert 'data-field="name"' in bob_page and 'data-field="email"' not in bob_page
    own_page = (await api.anonymous.get("/console/r/users/alice")).text
    assert 'data-field="email"' in own_page


@pytest.mark.parametrize("resource", ["agents", "teams", "users"])
async def test_another_users_row_and_a_missing_row_are_the_same_404_page_in_the_console(api, resource):
    alice = await api.as_user("alice")
    theirs = (
        "alice"
        if resource == "users"
        else (await alice.post(f"/api/{resource}", json={"name": "A"})).json["data"]["id"]
    )
    missing = "nobody" if resource == "users" else "00000000-0000-4000-8000-000000000000"
    await api.as_user("bob")
    await sign_in(api, api.token("bob"))
    for suffix in ("", "/edit"):
        pages = [await api.anonymous.get(f"/console/r/{resource}/{row}{suffix}") for row in (theirs, missing)]
        assert [p.status for p in pages] == [404, 404], suffix
        assert pages[0].text.replace(theirs, "ID") == pages[1].text.replace(missing, "ID"), suffix
