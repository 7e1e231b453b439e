"""Embedding costs one query per include level per request, never one per row: the includes of
one level share one statement, and the first level's are columns of the page's or the row's own."""

from __future__ import annotations

import pytest
from statements_support import logged_statements
from team_helpers import add_member, create_agent, create_team, share_agent


@pytest.fixture
def engine_env(engine_env):
    """One pooled connection, so a query logger on it sees every statement a request runs."""
    return {**engine_env, "ENGINE_POOL_MIN_SIZE": "1", "ENGINE_POOL_SIZE": "1"}


RESET = "SELECT pg_advisory_unlock_all()"  # what asyncpg runs when a connection returns to the pool
BACKGROUND = "_engine_events"  # the event pump reads on the same pool, at times of its own


async def statements_of(api, client, path: str) -> list[str]:
    """The SQL statements the server ran while answering GET `path` (pool resets and the event pump aside)."""
    ran = await logged_statements(api, lambda: client.get(path))
    return [q for q in ran if not q.startswith(RESET) and BACKGROUND not in q]


async def compared(api, client, path: str, than: str) -> tuple[list[str], list[str]]:
    """The statements of GET `than` and of GET `path`, after a first call of `path` (which may add the
    driver's one-time type introspection)."""
    await client.get(path)
    return await statements_of(api, client, than), await statements_of(api, client, path)


async def five_shared_teams(api):
    alice = await api.as_user("alice")
    await api.as_user("bob")
    for i in range(5):
        team_id = await create_team(alice, f"Team {i}")
        await add_member(api, alice, team_id, "bob")
        await share_agent(alice, team_id, await create_agent(alice, f"Agent {i}"))
    return alice


async def test_a_page_and_the_includes_of_its_first_level_are_one_statement(api):
    alice = await five_shared_teams(api)
    plain, embedded = await compared(api, alice, "/api/teams?include=members,agents,owner", "/api/teams")
    assert len(embedded) == len(plain)
    (page,) = [sql for sql in embedded if 'FROM "teams"' in sql]
    assert all(f'FROM "{name}"' in page for name in ("team_members", "team_agents", "users"))


async def test_one_include_adds_no_statement_to_a_list(api):
    alice = await five_shared_teams(api)
    plain, embedded = await compared(api, alice, "/api/teams?include=members", "/api/teams")
    assert len(embedded) == len(plain)


async def test_query_count_does_not_grow_with_the_page(api):
    alice = await five_shared_teams(api)
    path = "/api/teams?include=members,agents,owner"
    await alice.get(path)
    one_row = await statements_of(api, alice, path + "&limit=1")
    five_rows = await statements_of(api, alice, path + "&limit=5")
    assert len(one_row) == len(five_rows)


async def test_a_single_read_and_its_includes_are_one_statement(api):
    alice = await five_shared_teams(api)
    team_id = (await alice.get("/api/teams?limit=1")).json["data"][0]["id"]
    path = f"/api/teams/{team_id}?include=members,agents"
    await alice.get(path)
    (statement,) = await statements_of(api, alice, path)
    assert all(f'FROM "{name}"' in statement for name in ("teams", "team_members", "team_agents", "users"))


async def test_a_deeper_include_of_a_single_read_adds_one_statement(api):
    alice = await five_shared_teams(api)
    team_id = (await alice.get("/api/teams?limit=1")).json["data"][0]["id"]
    path = f"/api/teams/{team_id}?include=agents.user"
    await alice.get(path)
    first, deeper = await statements_of(api, alice, path)
    assert 'FROM "team_agents"' in first and 'FROM "users"' in deeper


async def test_a_deeper_include_level_adds_exactly_one_query(api):
    """`agents` brings the links and their agent rows in one statement; `.user` is one more level."""
    alice = await five_shared_teams(api)
    one_level, two_levels = await compared(api, alice, "/api/teams?include=agents.user", "/api/teams?include=agents")
    assert len(two_levels) == len(one_level) + 1
    reads_users = [sql for sql in two_levels if 'FROM "users"' in sql]
    assert len(reads_users) == len([sql for sql in one_level if 'FROM "users"' in sql]) + 1  # the new level


async def test_a_nested_list_is_the_parents_check_and_one_statement_for_the_links_and_far_rows(api):
    alice = await five_shared_teams(api)
    team_id = (await alice.get("/api/teams?limit=1")).json["data"][0]["id"]
    path = f"/api/teams/{team_id}/members"
    await alice.get(path)
    projected = await statements_of(api, alice, path + "?fields=user_id")
    parent, links = await statements_of(api, alice, path)
    assert len(projected) == 2
    assert 'FROM "teams"' in parent and all(f'FROM "{name}"' in links for name in ("team_members", "users"))


async def test_a_nested_read_is_the_parents_check_and_one_statement_for_the_link_and_far_row(api):
    alice = await five_shared_teams(api)
    team_id = (await alice.get("/api/teams?limit=1")).json["data"][0]["id"]
    path = f"/api/teams/{team_id}/members/bob"
    assert (await alice.get(path)).json["data"]["user"]["id"] == "bob"
    parent, link = await statements_of(api, alice, path)
    assert 'FROM "teams"' in parent and all(f'FROM "{name}"' in link for name in ("team_members", "users"))
