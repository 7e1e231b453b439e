"""GET /docs: a reference page for clients, offline and CSP-strict, checked in a real headless Chromium.

The browser is Debian's chromium (/usr/bin/chromium), driven by Playwright for Python; Playwright's
own browser downloads are never used. `.ci/install-browser` installs it; under CI (CI=true) these
tests run that script themselves when the browser is missing. Elsewhere a missing browser is a
failure that says how to install it, never a silent skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from engine import hookimpl

CHROMIUM = "/usr/bin/chromium"
INSTALL_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "install-browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_or_fail() -> str:
    if not os.path.exists(CHROMIUM) and os.environ.get("CI"):
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=False, timeout=900)
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the /docs browser tests need it. "
            f"Install Debian's package with `bash {INSTALL_SCRIPT.relative_to(INSTALL_SCRIPT.parent.parent)}` "
            "(apt-get install chromium), then re-run."
        )
    return CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator:
    from playwright.async_api import async_playwright

    executable = chromium_or_fail()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Page:
    """A browser page on the test server that records console errors and outside requests."""

    def __init__(self, page, origin: str):
        self.page = page
        self.origin = origin
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def open_docs(self) -> None:
        async def only_our_server(route):
            if route.request.url.startswith(self.origin):
                await route.continue_()
            else:
                self.outside.append(route.request.url)
                await route.abort()

        await self.page.route("**/*", only_our_server)
        await self.page.goto(self.origin + "/docs")
        await self.page.wait_for_selector("body[data-ready='true']")

    async def send(self) -> dict:
        await self.page.click("#try-send")
        await self.page.wait_for_selector("#try-status[data-status]")
        return {
            "status": int(await self.page.get_attribute("#try-status", "data-status")),
            "body": orjson.loads(await self.page.inner_text("#try-response code")),
        }


@pytest.fixture
async def docs(api, browser) -> Page:
    origin = str(api.client.make_url("/")).rstrip("/")
    page = Page(await browser.new_page(), origin)
    await page.open_docs()
    return page


async def test_try_form_sends_the_pasted_token_and_shows_the_json_response(api, docs):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "Browser helper"})
    await docs.page.fill("#try-token", api.token("alice"))
    await docs.page.select_option("#try-method", "GET")
    await docs.page.fill("#try-path", "/api/agents")
    result = await docs.send()
    assert result["status"] == 200
    assert [row["name"] for row in result["body"]["data"]] == ["Browser helper"]
    assert docs.errors == []


async def test_try_it_button_fills_in_a_create_request_with_an_example_body(api, docs):
    await api.as_user("alice")
    await docs.page.click("#resource-agents button.try-this[data-method='POST']")
    assert await docs.page.input_value("#try-path") == "/api/agents"
    await docs.page.fill("#try-token", api.token("alice"))
    result = await docs.send()
    assert result["status"] == 201
    assert result["body"]["data"]["user_id"] == "alice"


async def test_docs_page_works_offline_and_within_its_content_security_policy(docs):
    assert docs.outside == []
    assert docs.errors == []  # a CSP violation or a failed asset would be logged as an error
    assert await docs.page.eval_on_selector("#try-status", "node => getComputedStyle(node).fontWeight") == "700"


async def test_docs_page_lists_resources_fields_and_constraints(api):
    page = await api.anonymous.get("/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    for name in api.spec.resources:
        assert f'id="resource-{name}"' in html
    assert "max length 200" in html and "one of: draft, active, paused, archived" in html
    assert "owner: set from the token" in html


async def test_docs_page_shows_curl_examples(api):
    html = (await api.anonymous.get("/docs")).text
    origin = str(api.client.make_url("/")).rstrip("/")
    assert f"curl -i -H &#34;Authorization: Bearer $TOKEN&#34; {origin}/api/agents" in html


async def test_docs_page_sends_a_strict_content_security_policy(api):
    policy = (await api.anonymous.get("/docs")).headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy


async def test_docs_page_has_no_inline_script_or_style(api):
    html = (await api.anonymous.get("/docs")).text
    assert "<script>" not in html and "<style" not in html and " style=" not in html and " onclick" not in html


async def test_unknown_static_file_is_a_404_problem(api, expect_problem):
    expect_problem(await api.anonymous.get("/docs/static/..%2Fsecret"), 404)


class TestHostileSpecText:
    """Text from the schemas reaches the page escaped, never as markup."""

    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        schema = schema_of({"id": {"type": "integer", "readOnly": True}, "title": {"type": "string"}})
        schema["description"] = "<script>alert('x')</script> & more"
        return str(
            write_spec(
                """
                version: 1
                resources:
                  notes: {schema: schemas/note.json}
                """,
                {"schemas/note.json": schema},
            )
        )

    async def test_schema_descriptions_are_escaped(self, api):
        html = (await api.anonymous.get("/docs")).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html


class CookieScheme:
    @hookimpl
    def register_openapi(self, document):
        document["components"]["securitySchemes"]["testCookie"] = {"type": "apiKey", "in": "cookie", "name": "sid"}


class TestCookieSessions:
    @pytest.fixture
    def engine_plugins(self):
        return [CookieScheme()]

    async def test_docs_page_mentions_the_session_cookie_when_a_plugin_declares_one(self, api):
        assert "or the session cookie" in (await api.anonymous.get("/docs")).text


@pytest.mark.parametrize("path", ["/\\evil.example/x", "//evil.example/x", "/\\/evil.example/x", "/\\\\evil.example/x"])
async def test_try_form_never_sends_the_token_to_another_origin(api, docs, path):
    """The form compares parsed origins: a path the browser resolves to another host is refused."""
    await docs.page.fill("#try-token", api.token("alice"))
    await docs.page.select_option("#try-method", "GET")
    await docs.page.fill("#try-path", path)

    await docs.page.click("#try-send")
    await docs.page.wait_for_function("document.getElementById('try-status').textContent.includes('this server only')")

    assert docs.outside == []
    assert await docs.page.get_attribute("#try-status", "data-status") is None


async def test_try_form_sends_a_path_with_a_backslash_in_its_query_to_this_server(api, docs):
    await docs.page.fill("#try-token", api.token("alice"))
    await docs.page.select_option("#try-method", "GET")
    await docs.page.fill("#try-path", "/api/agents?name=a\\b")

    result = await docs.send()

    assert result["status"] == 200 and docs.outside == []
