"""The access hooks are asked once per resource, action and caller within a request, and again
in the next request (a create or a PATCH used to ask for the read rules of its fields twice),
unless every implementation is marked `pure`: then an answer is kept across requests."""

from __future__ import annotations

import pathlib
from collections import Counter

import pytest
from team_helpers import create_agent, create_team, share_agent

from engine.http.keys import PLUGINS
from engine.kernel.hooks import HookCall, for_resources, hookimpl, kept_call, pure


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


class CountingPurely(Counting):
    """The same, declaring its answers depend on the arguments alone."""

    @hookimpl
    @pure
    def access_predicates(self, resource, action, identity) -> None:
        return super().access_predicates(resource, action, identity)

    @hookimpl
    @pure
    def field_access(self, resource, mode, identity) -> None:
        return super().field_access(resource, mode, identity)


COUNTING = Counting()
PURELY = CountingPurely()


@pytest.fixture
def engine_plugins(request):
    return [PURELY] if "purely" in request.node.name else [COUNTING]


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


async def test_purely_answered_questions_are_asked_once_across_requests(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    agent = await create_agent(alice)
    PURELY.asked.clear()

    for _ in range(3):
        assert (await alice.get(f"/api/agents/{agent}")).status == 200
    assert (await bob.get(f"/api/agents/{agent}")).status == 404  # another caller: asked for them

    assert PURELY.asked[("rows", "agents", "read", "alice")] == 1, PURELY.asked
    assert PURELY.asked[("rows", "agents", "read", "bob")] == 1, PURELY.asked


async def test_one_implementation_without_pure_makes_the_hook_asked_every_request(api):
    """The engine's own access implementations are pure; the Counting plugin here is not."""
    alice = await api.as_user("alice")
    agent = await create_agent(alice)
    COUNTING.asked.clear()

    for _ in range(2):
        assert (await alice.get(f"/api/agents/{agent}")).status == 200

    assert COUNTING.asked[("rows", "agents", "read", "alice")] == 2
    assert kept_call(api.app[PLUGINS].hook.access_predicates).pure is False


def test_a_hook_call_is_pure_only_when_every_implementation_is_marked():
    import pluggy

    from engine import hookspecs
    from engine.kernel.hooks import PROJECT

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    assert HookCall(pm.hook.access_predicates).pure is False  # nothing implements it
    pm.register(CountingPurely())
    assert HookCall(pm.hook.access_predicates).pure is True
    pm.register(Counting())
    assert HookCall(pm.hook.access_predicates).pure is False


def test_a_resource_hook_call_leaves_out_implementations_for_other_resources():
    import pluggy

    from engine import hookspecs
    from engine.kernel.hooks import PROJECT, for_resources
    from engine.spec import load_spec

    class OnlyUsers:
        @hookimpl
        @for_resources(lambda resource: resource.name == "users")
        def after_write(self, resource):
            return None

    class Everywhere:
        @hookimpl
        def after_write(self, resource):
            return None

    spec = load_spec(str(pathlib.Path(__file__).resolve().parent.parent / "resources.yaml"))
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(OnlyUsers())
    pm.register(Everywhere())
    assert len(HookCall(pm.hook.after_write, spec.resources["users"]).impls) == 2
    assert len(HookCall(pm.hook.after_write, spec.resources["agents"]).impls) == 1
    assert len(HookCall(pm.hook.after_write).impls) == 2


def _broken_test(resource):
    raise KeyError("no such thing")


class Misjudging:
    @hookimpl
    @for_resources(_broken_test)
    def after_write(self, resource):
        return None


async def test_a_for_resources_test_that_raises_stops_the_start_naming_it(start_app):
    from engine.kernel.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"'Misjudging.after_write' raised KeyError"):
        await start_app([Misjudging()])
