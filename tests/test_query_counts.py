"""Counts on lists: count=exact|estimated|planned (and `Prefer: count=exact`) under every access rule.

The cast of the team tests: alice owns a team and shares one agent with it, carol is a member,
dave an outsider. A count is the number of rows the caller's list would show, never more.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from team_helpers import create_agent, create_team, share_agent, team_with_roles


@pytest.fixture
def engine_env(engine_env):
    """count=estimated is exact up to 3 rows here, so a few rows pass the threshold."""
    return {**engine_env, "ENGINE_COUNT_EXACT_BELOW": "3"}


async def agents_of(client, names_and_statuses):
    return [await create_agent(client, name, status=status) for name, status in names_and_statuses]


async def test_exact_count_is_the_number_of_matching_rows_across_pages(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [(f"a{i}", "active" if i % 3 else "paused") for i in range(7)])
    page = await alice.get("/api/agents?status=active&count=exact&limit=2")
    assert page.status == 200, page.text
    assert page.json["meta"]["total"] == 4 and page.json["meta"]["total_is"] == "exact"
    assert len(page.json["data"]) == 2


async def test_prefer_header_asks_for_the_exact_count(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [("one", "draft"), ("two", "draft")])
    page = await alice.get("/api/agents", headers={"Prefer": "count=exact"})
    assert page.json["meta"]["total"] == 2


async def test_list_without_count_has_no_total(api):
    alice = await api.as_user("alice")
    page = await alice.get("/api/agents")
    assert "total" not in page.json["meta"]


async def test_count_leaves_out_rows_the_caller_may_not_read(api):
    team = await team_with_roles(api)
    shared = await create_agent(team.alice, "shared")
    await create_agent(team.alice, "private")
    await share_agent(team.alice, team.id, shared)
    await create_agent(team.dave, "outsider's")
    counts = {}
    for name in ("alice", "carol", "dave"):
        page = await getattr(team, name).get("/api/agents?count=exact")
        counts[name] = page.json["meta"]["total"]
    assert counts == {"alice": 2, "carol": 1, "dave": 1}


async def test_count_on_a_field_the_caller_may_not_read_is_refused_like_an_unknown_field(api, expect_problem):
    team = await team_with_roles(api)
    shared = await create_agent(team.alice, "shared", system_prompt="the secret word is tangerine")
    await share_agent(team.alice, team.id, shared)
    answer = await team.carol.get("/api/agents?system_prompt[ilike]=*tangerine*&count=exact")
    problem = expect_problem(answer, 400)
    assert "system_prompt" in problem["detail"]


async def test_estimated_count_is_exact_below_the_threshold(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [("one", "draft"), ("two", "active")])
    page = await alice.get("/api/agents?count=estimated")
    assert (page.json["meta"]["total"], page.json["meta"]["total_is"]) == (2, "exact")


async def test_estimated_count_above_the_threshold_is_the_planner_estimate(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [(f"a{i}", "draft") for i in range(5)])
    page = await alice.get("/api/agents?count=estimated")
    assert page.json["meta"]["total_is"] == "estimated"
    assert page.json["meta"]["total"] >= 4  # at least past the threshold: the planner may not know more


async def test_planned_count_is_always_an_estimate(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [("one", "draft")])
    page = await alice.get("/api/agents?count=planned")
    assert page.json["meta"]["total_is"] == "estimated" and isinstance(page.json["meta"]["total"], int)


@pytest.mark.parametrize("query", ["count=all", "count=exact&count=planned"])
async def test_unknown_count_mode_is_a_400_naming_count(api, expect_problem, query):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get(f"/api/agents?{query}"), 400)
    assert problem["parameter"] == "count"


@pytest.mark.parametrize("prefer", ["count=bogus", "count", "count=", "handling=lenient", "return=minimal, x=1"])
async def test_a_prefer_header_the_list_does_not_understand_is_ignored(api, prefer):
    alice = await api.as_user("alice")
    await agents_of(alice, [("one", "draft")])
    page = await alice.get("/api/agents", headers={"Prefer": prefer})
    assert page.status == 200, page.text
    assert "total" not in page.json["meta"] and len(page.json["data"]) == 1
    assert "Preference-Applied" not in page.headers


async def test_an_honoured_prefer_count_is_named_in_preference_applied(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [("one", "draft")])
    page = await alice.get("/api/agents", headers={"Prefer": "return=minimal; x=1, Count=Planned"})
    assert page.json["meta"]["total_is"] == "estimated"
    assert page.headers["Preference-Applied"] == "count=planned"
    assert "Prefer" in page.headers["Vary"]


async def test_the_first_of_repeated_prefer_counts_is_the_one_considered(api):
    alice = await api.as_user("alice")
    ignored = await alice.get("/api/agents", headers={"Prefer": "count=bogus, count=exact"})
    assert "total" not in ignored.json["meta"]
    two_lines = CIMultiDict(alice.headers)
    two_lines.extend([("Prefer", "count=exact"), ("Prefer", "count=bogus")])
    async with alice.client.get("/api/agents", headers=two_lines) as honoured:
        assert (await honoured.json())["meta"]["total"] == 0
        assert honoured.headers["Preference-Applied"] == "count=exact"


async def test_the_count_parameter_wins_over_prefer_which_is_then_not_applied(api):
    alice = await api.as_user("alice")
    page = await alice.get("/api/agents?count=exact", headers={"Prefer": "count=planned"})
    assert page.json["meta"]["total_is"] == "exact"
    assert "Preference-Applied" not in page.headers


async def test_a_bad_count_parameter_stays_a_400_whatever_prefer_says(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/agents?count=bogus", headers={"Prefer": "count=exact"}), 400)
    assert problem["parameter"] == "count"


async def test_count_follows_the_cursor_free_filter_not_the_page(api):
    alice = await api.as_user("alice")
    await agents_of(alice, [(f"a{i}", "draft") for i in range(5)])
    first = await alice.get("/api/agents?limit=2&count=exact")
    second = await alice.get(f"/api/agents?limit=2&count=exact&cursor={first.json['meta']['next_cursor']}")
    assert second.json["meta"]["total"] == 5


async def test_a_nested_list_refuses_an_unknown_count_mode(api, expect_problem):
    team = await team_with_roles(api)
    problem = expect_problem(await team.alice.get(f"{team.url}/members?count=all"), 400)
    assert problem["parameter"] == "count"


async def test_a_nested_list_takes_boolean_groups(api):
    team = await team_with_roles(api)
    listed = await team.alice.get(f"{team.url}/members?or=(role=owner,role=admin)&sort=user_id")
    assert listed.status == 200, listed.text
    assert [m["user_id"] for m in listed.json["data"]] == ["alice", "bob"]


async def test_the_event_history_refuses_boolean_groups_rather_than_ignoring_them(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/events?or=(action=created)"), 400)
    assert "'or'" in problem["detail"]


async def test_teams_group_by_status_over_the_teams_the_caller_may_read(api):
    team = await team_with_roles(api)
    await create_team(team.alice, "Old", status="archived")
    await create_team(team.dave, "Dave's")
    carol = await team.carol.get("/api/teams?group_by=status")
    alice = await team.alice.get("/api/teams?group_by=status")
    assert carol.json["data"] == [{"status": "active", "count": 1}]
    assert alice.json["data"] == [{"status": "active", "count": 1}, {"status": "archived", "count": 1}]


async def test_a_resource_declaring_no_aggregates_refuses_aggregate_naming_it(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get("/api/users?aggregate=count"), 400)
    assert problem["parameter"] == "aggregate" and "declares no aggregates" in problem["detail"]


class TestCountDeadline:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_AGGREGATE_TIMEOUT": "0.001"}  # 1 ms: no count of 100,000 rows fits

    async def test_an_exact_count_past_its_statement_deadline_is_a_503_saying_so(self, api, expect_problem):
        admin = await api.as_admin()
        await api.sql("INSERT INTO users (id, email) VALUES ('many', 'many@example.com')")
        await api.sql("INSERT INTO agents (user_id, name) SELECT 'many', 'a' || i FROM generate_series(1, 100000) i")
        answer = await admin.get("/api/agents?count=exact&limit=1")
        problem = expect_problem(answer, 503)
        assert "count took longer than 1 ms" in problem["detail"] and answer.headers["Retry-After"] == "1"
