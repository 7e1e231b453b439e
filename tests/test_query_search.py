"""Full-text search: q=<web-search text> over the fields a resource declares under `search:`.

Matches by relevance when no sort is given, with stable cursors; composes with filters, counts
and access rules, and never matches a field the caller may not read (the example app: a team
member who cannot read a shared agent's system_prompt never finds it by a word of it).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from team_helpers import create_agent, create_team, share_agent, team_with_roles


async def names(client, query: str, resource: str = "agents") -> list[str]:
    result = await client.get(f"/api/{resource}?{query}")
    assert result.status == 200, result.text
    return [row["name"] for row in result.json["data"]]


def q(text: str) -> str:
    return "q=" + quote(text)


async def test_search_finds_a_word_of_the_name(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Invoice helper")
    await create_agent(alice, "Travel planner")
    assert await names(alice, q("invoice")) == ["Invoice helper"]


async def test_search_stems_words_in_the_declared_language(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Plans trips", system_prompt="You are planning journeys")
    assert await names(alice, q("planned")) == ["Plans trips"]


async def test_search_finds_a_tool_name(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Coder", tools=[{"name": "github_issues"}, {"name": "calendar"}])
    await create_agent(alice, "Other", tools=[{"name": "weather"}])
    assert await names(alice, q("calendar")) == ["Coder"]


async def test_web_search_syntax_excludes_a_word_and_matches_phrases(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Support bot billing")
    await create_agent(alice, "Support bot shipping")
    assert await names(alice, q("support -billing")) == ["Support bot shipping"]
    assert await names(alice, q('"bot shipping"')) == ["Support bot shipping"]
    assert await names(alice, q("billing or shipping") + "&sort=name") == [
        "Support bot billing",
        "Support bot shipping",
    ]


async def test_results_come_by_relevance_when_no_sort_is_given(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "General", system_prompt="sometimes talks about weather")
    await create_agent(alice, "Weather station")  # in the name: weight A beats the prompt's B
    assert await names(alice, q("weather")) == ["Weather station", "General"]


async def test_an_explicit_sort_replaces_relevance(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "b weather")
    await create_agent(alice, "a", system_prompt="weather")
    assert await names(alice, q("weather") + "&sort=name") == ["a", "b weather"]


async def test_relevance_cursors_walk_every_match_once(api):
    alice = await api.as_user("alice")
    for i in range(7):
        await create_agent(alice, f"Robot {i}", system_prompt="robot " * (i % 3))
    await create_agent(alice, "Unrelated")
    seen, url = [], "/api/agents?" + q("robot") + "&limit=3"
    while url:
        page = await alice.get(url)
        assert page.status == 200, page.text
        seen += [row["name"] for row in page.json["data"]]
        cursor = page.json["meta"]["next_cursor"]
        url = f"/api/agents?{q('robot')}&limit=3&cursor={cursor}" if cursor else None
    assert sorted(seen) == [f"Robot {i}" for i in range(7)]


async def test_a_forged_relevance_cursor_is_a_400(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/agents?" + q("x") + "&cursor=bm9wZQ"), 400)
    assert problem["parameter"] == "cursor"


async def test_search_composes_with_filters_and_counts(api):
    alice = await api.as_user("alice")
    await create_agent(alice, "Robot one", status="active")
    await create_agent(alice, "Robot two", status="paused")
    await create_agent(alice, "Robot three", status="active")
    page = await alice.get("/api/agents?" + q("robot") + "&status=active&count=exact&limit=1")
    assert page.json["meta"]["total"] == 2 and len(page.json["data"]) == 1


async def test_search_never_returns_rows_the_caller_may_not_read(api):
    alice, dave = await api.as_user("alice"), await api.as_user("dave")
    await create_agent(alice, "Robot of alice")
    assert await names(dave, q("robot")) == []


async def test_a_member_never_finds_a_shared_agent_by_a_word_of_its_hidden_prompt(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice, "Helper", system_prompt="the password is tangerine")
    await share_agent(team.alice, team.id, agent)
    assert await names(team.carol, q("tangerine")) == []
    page = await team.carol.get("/api/agents?" + q("tangerine") + "&count=exact")
    assert page.json["meta"]["total"] == 0


async def test_a_member_still_finds_the_shared_agent_by_its_name(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice, "Helper", system_prompt="the password is tangerine")
    await share_agent(team.alice, team.id, agent)
    assert await names(team.carol, q("helper")) == ["Helper"]


async def test_team_admins_who_may_read_the_prompt_find_the_agent_by_it(api):
    team = await team_with_roles(api)
    agent = await create_agent(team.alice, "Helper", system_prompt="the password is tangerine")
    await share_agent(team.alice, team.id, agent)
    assert await names(team.bob, q("tangerine")) == ["Helper"]
    assert await names(team.alice, q("tangerine")) == ["Helper"]


async def test_teams_are_searched_by_name_and_description(api):
    alice = await api.as_user("alice")
    await create_team(alice, "Research", description="papers and experiments")
    await create_team(alice, "Sales")
    assert await names(alice, q("experiment"), "teams") == ["Research"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
async def test_empty_or_overlong_search_text_is_a_400(api, expect_problem, text):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/agents?" + q(text)), 400)
    assert problem["parameter"] == "q"


async def test_search_on_a_resource_without_search_is_a_400(api, expect_problem):
    admin = await api.as_admin()
    problem = expect_problem(await admin.get("/api/users?" + q("x")), 400)
    assert "declares no full-text search" in problem["detail"]


@pytest.mark.parametrize("text", ["'", "&|!", "(((", "a:*", "\\", "-", '"'])
async def test_any_search_text_is_safe(api, text):
    alice = await api.as_user("alice")
    await create_agent(alice, "Robot")
    result = await alice.get("/api/agents?" + q(text))
    assert result.status == 200, result.text
