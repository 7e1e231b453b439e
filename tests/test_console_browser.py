"""/console in a real browser: Debian's Chromium driven by Playwright (as the /docs test does).

The whole flow as an ordinary user and as an admin: sign in, create an agent, see a validation
error at its field, fix it, edit, see the events arrive in the live panel, filter and sort, delete.
And what a user must never see: another user's row, a field hidden from them. Every page is saved
as a screenshot under artifacts/console/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from stand_in_oidc_provider import google_env, oidc_provider_fixture  # noqa: F401
from team_helpers import add_member, create_agent, create_team, share_agent
from test_docs_page import CHROMIUM_ARGS, chromium_or_fail

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
VIEWPORT = {"width": 1280, "height": 900}
TIMINGS = SHOTS / "timings.tsv"  # each page opened: milliseconds to its HTML, and to its data drawn
PAGE_TIMES = """() => {
    const navigation = performance.getEntriesByType("navigation")[0];
    const ready = performance.getEntriesByName("console-ready")[0];
    return [navigation.responseEnd, ready ? ready.startTime : null];
}"""


@pytest.fixture(scope="module", autouse=True)
def page_timings() -> Iterator[list[str]]:
    """Records how long each page took (not asserted: a documented check, docs/console.md#speed)."""
    lines: list[str] = []
    yield lines
    SHOTS.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text("page\thtml_ms\tready_ms\n" + "".join(lines), encoding="utf-8")


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


def answered(message) -> bool:
    """Chromium logs every 4xx answer of a fetch as an error; the API's refusals are expected here."""
    return message.text.startswith("Failed to load resource: the server responded with a status of 4")


class Console:
    """One browser (its own cookies) on the test server; records script errors and outside requests."""

    def __init__(self, context, origin: str, who: str, also: tuple[str, ...] = (), timings: list[str] | None = None):
        self.context = context
        self.timings = [] if timings is None else timings  # lines of timings.tsv
        self.origin = origin
        self.also = also  # other origins this browser may visit (a sign-in provider)
        self.who = who
        self.errors: list[str] = []
        self.outside: list[str] = []

    async def page(self):
        page = await self.context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" and not answered(m) else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

        async def only_our_server(route):
            if route.request.url.startswith((self.origin, *self.also)):
                await route.continue_()
            else:
                self.outside.append(route.request.url)
                await route.abort()

        await page.route("**/*", only_our_server)
        return page

    async def open(self, page, path: str) -> None:
        await page.goto(self.origin + path)
        await page.wait_for_selector("body[data-ready='true']")
        html, ready = await page.evaluate(PAGE_TIMES)
        self.timings.append(f"{path}\t{html:.0f}\t{'' if ready is None else f'{ready:.0f}'}\n")

    async def shot(self, page, name: str, full_page: bool = True) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{self.who}-{name}.png"), full_page=full_page)

    async def sign_in(self, page, token: str) -> None:
        await page.goto(self.origin + "/console")  # not signed in: to the sign-in page
        assert "/console/signin" in page.url
        await self.shot(page, "01-sign-in")
        await page.fill("#token", token)
        await page.click("text=Sign in with token")
        await page.wait_for_url(self.origin + "/console")
        await self.shot(page, "02-resources")


@pytest.fixture
def console_for(api, browser, page_timings):
    origin = str(api.client.make_url("/")).rstrip("/")

    async def make(who: str) -> Console:
        context = await browser.new_context(viewport=VIEWPORT)
        return Console(context, origin, who, timings=page_timings)

    return make


async def full_flow(console: Console, page, live) -> None:
    """Create (422 at the field, then fixed), edit, filter, sort and delete an agent, watching events.

    `page` is the tab in front, as the one a person works in is; `live` watches from behind it. (Headless
    Chromium draws a tab behind another about once a second, so each click or screenshot there waits.)"""
    await console.open(live, "/console/r/agents")
    await live.wait_for_selector("#live-state:has-text('Connected')")

    await console.open(page, "/console/r/agents")
    await page.click("#create-link")
    await page.wait_for_selector("body[data-ready='true']")
    await page.fill("#field-name", "x" * 201)  # the schema's maxLength is 200
    await page.select_option("#field-status", "draft")
    await page.click("#save-button")
    error = page.locator("#field-name-error")
    await error.wait_for(state="visible")
    assert "is too long" in await error.inner_text()
    assert await page.get_attribute("#field-name", "aria-invalid") == "true"
    await console.shot(page, "03-validation-error")

    await page.fill("#field-name", "Console helper")
    await page.fill("#field-parameters", '{"temperature": 0.5}')
    await page.click("#save-button")
    await page.wait_for_url(re.compile(r".*/console/r/agents/[0-9a-f-]{36}$"))
    await page.wait_for_selector("body[data-ready='true']")
    agent_id = page.url.rsplit("/", 1)[-1]
    assert await page.inner_text("[data-field='name'] dd") == "Console helper"
    await console.shot(page, "04-row")
    await live.wait_for_selector(f"#live-events li[data-action='created'][data-record-id='{agent_id}']")
    assert await live.is_visible("#rows-stale a")  # the table it shows is older than the event

    await page.click("#edit-link")
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.input_value("#field-name") == "Console helper"
    await page.select_option("#field-status", "active")
    await console.shot(page, "05-edit")
    await page.click("#save-button")
    await page.wait_for_url(console.origin + f"/console/r/agents/{agent_id}")
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.inner_text("[data-field='status'] dd") == "active"
    await live.wait_for_selector(f"#live-events li[data-action='updated'][data-record-id='{agent_id}']")
    await console.shot(live, "06-live-events")

    await console.open(page, "/console/r/agents")
    await page.select_option("#f-1", "name")  # the operators follow the field
    await page.select_option("#op-1", "ilike")
    await page.fill("#v-1", "Console*")
    await page.click("#apply-query")
    await page.wait_for_selector("body[data-ready='true']")
    assert "name%5Bilike%5D=Console" in page.url or "name[ilike]=Console" in page.url
    assert await page.locator("#rows tbody tr").count() == 1
    await page.click("#rows th[data-field='name'] a")  # sort by name
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.get_attribute("#rows th[data-field='name']", "aria-sort") == "ascending"
    await console.shot(page, "07-filtered-sorted")

    await console.open(page, f"/console/r/agents/{agent_id}")
    await page.click("#delete-start")
    await page.click("#delete-confirm-button")
    await page.wait_for_url(console.origin + "/console/r/agents")
    await live.wait_for_selector(f"#live-events li[data-action='deleted'][data-record-id='{agent_id}']")


async def shared_world(api):
    """alice is a member of bob's team; bob shares one agent with it and keeps another to himself."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(bob, "Bob's team")
    await add_member(api, bob, team_id, "alice")
    shared = await create_agent(bob, "Bob shared agent", system_prompt="BOB-SHARED-PROMPT")
    await share_agent(bob, team_id, shared)
    private = await create_agent(bob, "Bob private agent", system_prompt="BOB-PRIVATE-PROMPT")
    return alice, bob, shared, private


async def signed_in(api, console_for, user: str = "alice"):
    """A console for an ordinary user and a page signed in as `user` (by pasting a token)."""
    console = await console_for("user")
    page = await console.page()
    await console.sign_in(page, api.token(user))
    return console, page


async def test_an_ordinary_user_creates_edits_filters_and_deletes_an_agent(api, console_for):
    await api.as_user("alice")
    console = await console_for("user")
    live, page = await console.page(), await console.page()  # opened last, so the tab in front (see full_flow)
    await console.sign_in(page, api.token("alice"))
    await full_flow(console, page, live)
    assert console.errors == [] and console.outside == []


async def test_an_admin_creates_edits_filters_and_deletes_an_agent_and_sees_the_admin_page(api, console_for):
    await api.as_admin()
    console = await console_for("admin")
    live, page = await console.page(), await console.page()
    await console.sign_in(page, api.token("admin", ["admin"]))
    await full_flow(console, page, live)
    await console.open(page, "/console/admin")
    assert await page.inner_text("#health-ready") != "checking…"
    assert "agents" in await page.inner_text("#spec-agents")
    assert "/api/agents" in await page.inner_text("#routes")
    await console.shot(page, "08-admin")
    assert console.errors == [] and console.outside == []


async def test_a_user_never_sees_another_users_row_or_a_hidden_field(api, console_for):
    _, _, shared, private = await shared_world(api)
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents?fields=id,name,system_prompt,user_id")
    text = await page.inner_text("main")
    assert "Bob shared agent" in text
    assert "Bob private agent" not in text and "BOB-" not in text
    await console.shot(page, "09-shared-rows")
    await console.open(page, f"/console/r/agents/{shared}")
    assert await page.is_hidden("[data-field='system_prompt']")
    assert "BOB-" not in await page.content()
    await console.open(page, f"/console/r/agents/{private}")  # as if there were no such row: a 404 page
    assert "no agents row" in await page.inner_text("#problem-detail")
    assert "Bob private agent" not in await page.content()
    await console.open(page, "/console/r/users/bob")  # a co-member: id and name, not the e-mail
    assert await page.is_hidden("[data-field='email']")
    assert "bob@example.test" not in await page.content()


async def test_an_admin_sees_every_row_and_field(api, console_for):
    _, _, _, private = await shared_world(api)
    await api.as_admin()
    console = await console_for("admin")
    page = await console.page()
    await console.sign_in(page, api.token("admin", ["admin"]))
    await console.open(page, f"/console/r/agents/{private}")
    assert await page.inner_text("[data-field='system_prompt'] dd") == "BOB-PRIVATE-PROMPT"


async def test_a_concurrent_change_is_reported_not_overwritten(api, console_for):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "Original")
    console, page = await signed_in(api, console_for)
    await console.open(page, f"/console/r/agents/{agent}/edit")
    assert (await alice.patch(f"/api/agents/{agent}", json={"name": "Changed elsewhere"})).status == 200
    await page.fill("#field-name", "Mine")
    await page.click("#save-button")
    await page.wait_for_selector("#form-error:has-text('changed by someone else')")
    await console.shot(page, "10-concurrent-change")
    assert (await alice.get(f"/api/agents/{agent}")).json["data"]["name"] == "Changed elsewhere"


async def test_the_console_works_with_the_keyboard_alone(api, console_for):
    await api.as_user("alice")
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents/new")
    await page.focus("#field-name")
    await page.keyboard.type("Typed agent")
    await page.keyboard.press("Enter")  # submits the form
    await page.wait_for_url(re.compile(r".*/console/r/agents/[0-9a-f-]{36}$"))
    await page.wait_for_selector("body[data-ready='true']")
    await page.focus("#delete-start")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "delete-confirm-button"
    await page.keyboard.press("Enter")
    await page.wait_for_url(console.origin + "/console/r/agents")


async def test_every_control_has_a_visible_label(api, console_for):
    await api.as_user("alice")
    console, page = await signed_in(api, console_for)
    unlabelled = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
        .filter(c => !(c.labels && c.labels.length && c.labels[0].textContent.trim())).map(c => c.id || c.name)"""
    pages = ("/console/signin", "/console/r/agents", "/console/r/agents/new", "/console/r/teams")
    for path in (*pages, "/console/r/users/alice/edit"):
        await console.open(page, path)
        assert await page.evaluate(unlabelled) == [], path


async def test_a_page_of_100_rows_does_not_scroll_sideways_at_1280_pixels(api, console_for):
    alice = await api.as_user("alice")
    roles = ("Researcher", "Planner", "Summarizer", "Translator", "Reviewer")
    for n in range(100):
        name = f"{roles[n % 5]} {n}: answers with sources, " * 3  # long: cut with an ellipsis, never wrapped
        status = ("draft", "active", "paused")[n % 3]
        await alice.post("/api/agents", json={"name": name, "status": status, "parameters": {"temperature": 0.2}})
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents?limit=100&fields=id,user_id,name,status,parameters,tools,created_at")
    assert await page.locator("#rows tbody tr").count() == 100
    assert await page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    await console.shot(page, "11-hundred-rows")
    await console.shot(page, "12-table-screen", full_page=False)  # the one in docs/console.png


async def test_a_teams_page_links_its_members_and_agents(api, console_for):
    _, bob, shared, _ = await shared_world(api)
    team_id = (await bob.get("/api/teams")).json["data"][0]["id"]
    console, page = await signed_in(api, console_for)
    await console.open(page, f"/console/r/teams/{team_id}")
    members = page.locator("[data-relation='members'] a")
    assert sorted(await members.all_inner_texts()) == ["alice", "bob"]  # users without a name: their ids
    assert await page.inner_text("[data-relation='agents'] a") == f"Bob shared agent ({shared})"
    assert await page.get_attribute("[data-relation='agents'] a", "href") == f"/console/r/agents/{shared}"
    assert await page.locator("a[href^='/console/r/team_members']").count() == 0  # she may not list those
    await console.shot(page, "13-team-relations")
    await page.click("[data-relation='agents'] a")
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.inner_text("[data-field='name'] dd") == "Bob shared agent"


class TestGoogleSignIn:
    """In production an admin signs in through Google: ENGINE_ADMINS names their verified e-mail."""

    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, ENGINE_ADMINS="ada@example.test", ENGINE_LOGIN_REDIRECT="/console")

    async def test_an_admin_named_in_engine_admins_signs_in_with_google(self, api, browser, oidc_provider):
        origin = str(api.client.make_url("/")).rstrip("/")
        context = await browser.new_context(viewport=VIEWPORT)
        console = Console(context, origin, "google", also=(oidc_provider.issuer,))
        page = await console.page()
        await page.goto(origin + "/console/signin")
        await page.click("#google-sign-in")  # to the provider, which answers at once, and back
        await page.wait_for_url(origin + "/console")
        assert "(admin)" in await page.inner_text("#signed-in-as")
        await console.open(page, "/console/admin")
        await console.shot(page, "01-admin-after-google-sign-in", full_page=False)
        assert console.errors == []

    async def test_a_deep_link_survives_the_google_sign_in(self, api, browser, oidc_provider):
        origin = str(api.client.make_url("/")).rstrip("/")
        context = await browser.new_context(viewport=VIEWPORT)
        console = Console(context, origin, "google", also=(oidc_provider.issuer,))
        page = await console.page()
        await page.goto(origin + "/console/r/agents?sort=-name")  # not signed in: to the sign-in page
        await page.wait_for_url(re.compile(r".*/console/signin\?next=.*"))
        await page.click("#google-sign-in")
        await page.wait_for_url(origin + "/console/r/agents?sort=-name")
        assert console.errors == []


class TestAResourceDeclaredInTheTest:
    """The console is generated from the spec: a resource it has never seen, edited in the browser."""

    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        schema = schema_of(
            {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "title": {"type": "string", "maxLength": 100},
                "pages": {"type": "integer", "minimum": 1},
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

    async def test_a_book_is_created_and_edited_with_its_typed_controls(self, api, console_for):
        console = await console_for("books")
        page = await console.page()
        await console.sign_in(page, api.token("reader"))
        await console.open(page, "/console/r/books/new")
        await page.fill("#field-title", "Dune")
        await page.fill("#field-pages", "0")  # below the minimum: the API's 422, at the field
        await page.check("#field-in_print")
        await page.fill("#field-published_at", "1965-08-01T10:30:00")
        await page.click("#save-button")
        await page.locator("#field-pages-error").wait_for(state="visible")
        await page.fill("#field-pages", "412")
        await page.click("#save-button")
        await page.wait_for_url(re.compile(r".*/console/r/books/[0-9a-f-]{36}$"))
        book_id = page.url.rsplit("/", 1)[-1]
        reader = api.with_token(api.token("reader"))
        row = (await reader.get(f"/api/books/{book_id}")).json["data"]
        assert (row["pages"], row["in_print"]) == (412, True)
        assert row["published_at"].startswith("1965-08-01T10:30:00")
        await reader.patch(f"/api/books/{book_id}", json={"published_at": "1965-08-01T10:30:00.123456Z"})

        await console.open(page, f"/console/r/books/{book_id}/edit")
        await page.uncheck("#field-in_print")
        await page.click("#save-button")
        await page.wait_for_url(console.origin + f"/console/r/books/{book_id}")
        row = (await reader.get(f"/api/books/{book_id}")).json["data"]
        assert row["in_print"] is False
        assert row["published_at"] == "1965-08-01T10:30:00.123456+00:00"  # untouched: not sent, not rounded


async def test_the_next_page_link_follows_the_cursor(api, console_for):
    alice = await api.as_user("alice")
    for name in ("Agent A", "Agent B", "Agent C"):
        await create_agent(alice, name)
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents?sort=name&limit=2&fields=id,name")
    assert await page.locator("#rows tbody td:nth-child(2)").all_inner_texts() == ["Agent A", "Agent B"]
    await page.click("#next-page")
    await page.wait_for_url(re.compile(r".*cursor=.*"))
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.locator("#rows tbody td:nth-child(2)").all_inner_texts() == ["Agent C"]
    assert await page.is_hidden("#next-page")  # the last page


async def test_the_table_counts_the_rows_of_every_page(api, console_for):
    alice = await api.as_user("alice")
    for name in ("Agent A", "Agent B", "Agent C"):
        await create_agent(alice, name)
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents?limit=2")
    assert await page.inner_text("#table-status") == "2 rows on this page of 3."


async def test_the_column_chooser_shows_the_columns_chosen(api, console_for):
    await create_agent(await api.as_user("alice"), "Chooser agent")
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents")
    await page.click("details.columns summary")
    await page.uncheck("input[name='col'][value='status']")
    await page.check("input[name='col'][value='system_prompt']")
    await page.click("#apply-query")
    await page.wait_for_selector("body[data-ready='true']")
    headers = await page.locator("#rows th").evaluate_all("ths => ths.map(th => th.dataset.field)")
    assert "system_prompt" in headers and "status" not in headers
    assert await page.inner_text("#rows tbody tr td:nth-child(1)") != ""


async def test_a_rows_page_lists_the_rows_events(api, console_for):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "Evented")
    assert (await alice.patch(f"/api/agents/{agent}", json={"status": "active"})).status == 200
    console, page = await signed_in(api, console_for)
    await console.open(page, f"/console/r/agents/{agent}")
    actions = await page.locator("#row-events li.event").evaluate_all("lis => lis.map(li => li.dataset.action)")
    assert actions == ["updated", "created"]  # newest first


async def test_a_write_only_field_is_written_from_the_form_and_never_shown(api, console_for):
    await api.as_user("alice")
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents/new")
    await page.fill("#field-name", "With a secret")
    await page.fill("#field-secrets", '{"github": "ghp-CONSOLE-SECRET"}')
    await page.click("#save-button")
    await page.wait_for_url(re.compile(r".*/console/r/agents/[0-9a-f-]{36}$"))
    await page.wait_for_selector("body[data-ready='true']")
    agent_id = page.url.rsplit("/", 1)[-1]
    assert "ghp-CONSOLE-SECRET" not in await page.content()
    assert await page.locator("#row-fields [data-field='secrets']").count() == 0  # not even its label
    await console.open(page, f"/console/r/agents/{agent_id}/edit")
    assert await page.input_value("#field-secrets") == ""
    assert "ghp-CONSOLE-SECRET" not in await page.content()
    stored = (await api.with_token(api.token("alice")).get(f"/api/agents/{agent_id}")).json["data"]
    assert "github" in stored["secrets"]  # set (the API says which, never the value)


async def test_json_that_does_not_parse_is_reported_at_its_field_and_not_sent(api, console_for):
    await api.as_user("alice")
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents/new")
    await page.fill("#field-name", "Bad JSON")
    await page.fill("#field-parameters", '{"temperature": ')
    await page.click("#save-button")
    error = page.locator("#field-parameters-error")
    await error.wait_for(state="visible")
    assert (await error.inner_text()).startswith("Not valid JSON")
    assert await page.evaluate("document.activeElement.id") == "field-parameters"
    assert (await api.with_token(api.token("alice")).get("/api/agents")).json["data"] == []


async def test_the_live_panel_shows_no_event_of_a_row_the_user_may_not_read(api, console_for):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    console = await console_for("user")
    live = await console.page()
    await console.sign_in(live, api.token("alice"))
    await console.open(live, "/console/r/agents")
    await live.wait_for_selector("#live-state:has-text('Connected')")
    private = await create_agent(bob, "Bob private agent")
    own = await create_agent(alice, "Alice agent")  # after bob's: once it arrives, bob's would have too
    await live.wait_for_selector(f"#live-events li[data-record-id='{own}']")
    assert await live.locator(f"#live-events li[data-record-id='{private}']").count() == 0


async def test_a_column_is_sorted_with_the_keyboard_alone(api, console_for):
    alice = await api.as_user("alice")
    for name in ("Agent B", "Agent A"):
        await create_agent(alice, name)
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents?fields=id,name")
    target = "#rows th[data-field='name'] a"
    for _ in range(80):  # Tab through the page's controls until the column header's link has focus
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement === document.querySelector({target!r})"):
            break
    else:
        raise AssertionError("the name column's sort link is not reachable with Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*sort=name"))
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.locator("#rows tbody td:nth-child(2)").all_inner_texts() == ["Agent A", "Agent B"]


async def test_without_the_script_the_form_sends_nothing_and_never_puts_a_secret_in_a_url(api, browser):
    """A plain HTML submit (the script not loaded, or not yet ready) must not GET the page with the
    form's fields, CSRF token and write-only secrets in the query string (history, logs, Referer)."""
    await api.as_user("alice")
    origin = str(api.client.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    page = await context.new_page()
    await page.goto(origin + "/console/signin")  # the sign-in form is plain HTML: it works without script
    await page.fill("#token", api.token("alice"))
    await page.click("text=Sign in with token")
    await page.wait_for_url(origin + "/console")
    await page.goto(origin + "/console/r/agents/new")
    await page.fill("#field-name", "No script")
    await page.fill("#field-secrets", '{"github": "ghp-NOSCRIPT"}')
    await page.press("#field-name", "Enter")
    await page.wait_for_load_state()
    assert page.url == origin + "/console/r/agents/new"
    assert await page.is_disabled("#save-button")
    assert (await api.with_token(api.token("alice")).get("/api/agents")).json["data"] == []


async def test_an_error_inside_a_json_field_is_shown_beside_that_field(api, console_for):
    await api.as_user("alice")
    console, page = await signed_in(api, console_for)
    await console.open(page, "/console/r/agents/new")
    await page.fill("#field-name", "Too hot")
    await page.fill("#field-parameters", '{"temperature": 5}')  # the schema's maximum is 2
    await page.click("#save-button")
    error = page.locator("#field-parameters-error")
    await error.wait_for(state="visible")
    assert await page.get_attribute("#field-parameters", "aria-invalid") == "true"
    assert await page.is_hidden("#field-name-error")


async def test_a_delete_after_a_change_elsewhere_is_refused_and_reported(api, console_for):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "Original")
    console, page = await signed_in(api, console_for)
    await console.open(page, f"/console/r/agents/{agent}")
    assert (await alice.patch(f"/api/agents/{agent}", json={"name": "Changed elsewhere"})).status == 200
    await page.click("#delete-start")
    await page.click("#delete-confirm-button")
    await page.wait_for_selector("#row-error:has-text('changed by someone else')")
    assert (await alice.get(f"/api/agents/{agent}")).status == 200


async def test_markup_in_a_value_is_shown_as_text_never_run(api, console_for):
    markup = '<img src=x id=injected onerror="document.title=1">'
    agent = await create_agent(await api.as_user("alice"), markup)
    console, page = await signed_in(api, console_for)
    for path in ("/console/r/agents", f"/console/r/agents/{agent}", f"/console/r/agents/{agent}/edit"):
        await console.open(page, path)
        assert await page.locator("#injected").count() == 0, path
    assert await page.input_value("#field-name") == markup
    await console.open(page, f"/console/r/agents/{agent}")
    assert await page.inner_text("[data-field='name'] dd") == markup


async def test_a_field_with_transitions_offers_only_the_moves_from_its_value(api, console_for):
    alice = await api.as_user("alice")
    agent = await create_agent(alice, "Lifecycle")  # draft: it may move to active or archived
    console, page = await signed_in(api, console_for)
    await console.open(page, f"/console/r/agents/{agent}/edit")
    await page.wait_for_selector("body[data-ready='true']")
    disabled = await page.eval_on_selector_all(
        "#field-status option", "os => os.filter(o => o.disabled).map(o => o.value)"
    )
    assert sorted(disabled) == ["", "paused"]
    assert "From draft it may move to active, archived." in await page.inner_text("#field-status-help")
    await page.select_option("#field-status", "active")
    await page.click("#save-button")
    await page.wait_for_url(console.origin + f"/console/r/agents/{agent}")
    assert (await alice.get(f"/api/agents/{agent}")).json["data"]["status"] == "active"
