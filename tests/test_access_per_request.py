"""The access hooks are asked once per resource, action and caller within a request, and again
in the next request (a create or a PATCH used to ask for the read rules of its fields twice)."""

from __future__ import annotations

from collections import Counter

import pytest
from team_helpers import create_agent, create_team, share_agent

from engine.kernel.hooks import hookimpl


class Counting:
    """Counts the questions; adds no rule."""

    def __init__(self) -> None:
        self.asked: Counter = Counter()

    @hookimpl
    def access_predicates(self, resource, action, identity) -> None:
        self.asked[("rows", resource.name, action, identity.user_id if identity else None)] += 1

    @hookimpl
    def field_access(self, resource, mode, identity) -> None:
        self.asked[("fields", resource.name, mode, identity.user_id if identity else None)] += 1


COUNTING = Counting()


@pytest.fixture
def engine_plugins():
    return [COUNTING]


async def test_a_create_and_a_patch_ask_each_access_question_once(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    for send in (
        lambda: alice.post("/api/agents", json={"name": "x"}),
        lambda: alice.patch(f"/api/agents/{agent}", json={"name": "y"}),
    ):
        COUNTING.asked.clear()
        assert (await send()).status in (200, 201)
        assert COUNTING.asked[("fields", "agents", "read", "alice")] == 1, COUNTING.asked  # was asked twice
        assert set(COUNTING.asked.values()) == {1}, COUNTING.asked


async def test_a_read_with_includes_asks_each_access_question_once(api):
    alice = await api.as_user("alice")
    team = await create_team(alice)
    await share_agent(alice, team, await create_agent(alice))
    COUNTING.asked.clear()

    answer = await alice.get(f"/api/teams/{team}?include=members,agents")

    assert answer.status == 200 and len(answer.json["data"]["agents"]) == 1
    assert COUNTING.asked and set(COUNTING.asked.values()) == {1}, COUNTING.asked


async def test_the_next_request_asks_again(api):
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    COUNTING.asked.clear()

    for _ in range(2):
        assert (await alice.get(f"/api/agents/{agent}")).status == 200

    assert COUNTING.asked[("rows", "agents", "read", "alice")] == 2
