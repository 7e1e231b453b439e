"""BOLA matrix: Bob against each of Alice's rows (agents, teams, users) on every route and method.

Another user's row is a 404 — never a 403 that would confirm it exists — and is unchanged
afterwards; it never shows up through filters, sorting, cursors, embedding or nested routes.
(Deleting a users row is admin-only, so Bob meets the role check first: a 403 for any id.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from engine.resources import cursor
from engine.sql.queries import SortKey

PATCHES = {"agents": {"name": "pwned"}, "teams": {"name": "pwned"}, "users": {"name": "pwned"}}


@dataclass
class World:
    alice: object
    bob: object
    ids: dict  # resource -> Alice's row id
    bobs: dict  # resource -> Bob's row id


@pytest.fixture
async def world(api):
    alice = await api.as_user("alice", name="Alice")
    bob = await api.as_user("bob", name="Bob")
    ids, bobs = {"users": "alice"}, {"users": "bob"}
    for resource in ("agents", "teams"):
        created = await alice.post(f"/api/{resource}", json={"name": f"Alice's {resource}"})
        ids[resource] = created.json["data"]["id"]
        mine = await bob.post(f"/api/{resource}", json={"name": f"Bob's {resource}"})
        bobs[resource] = mine.json["data"]["id"]
    return World(alice, bob, ids, bobs)


async def snapshot(api, resource, row_id):
    rows = await api.sql(f"select * from {resource} where id = $1", row_id)  # resource from a fixed list
    return [dict(r) for r in rows]


def assert_not_found(result):
    assert result.status == 404, result.text
    assert result.json["type"].endswith("/not-found")


# --- single-row routes -------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["agents", "teams", "users"])
async def test_another_users_row_is_404_on_get(api, world, resource):
    assert_not_found(await world.bob.get(f"/api/{resource}/{world.ids[resource]}"))


@pytest.mark.parametrize("resource", ["agents", "teams", "users"])
async def test_another_users_row_is_404_on_get_with_fields(api, world, resource):
    assert_not_found(await world.bob.get(f"/api/{resource}/{world.ids[resource]}?fields=id"))


@pytest.mark.parametrize("resource", ["agents", "teams", "users"])
async def test_another_users_row_is_404_on_patch_and_unchanged(api, world, resource):
    before = await snapshot(api, resource, world.ids[resource])
    assert_not_found(await world.bob.patch(f"/api/{resource}/{world.ids[resource]}", json=PATCHES[resource]))
    assert await snapshot(api, resource, world.ids[resource]) == before


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_another_users_row_is_404_on_delete_and_still_there(api, world, resource):
    before = await snapshot(api, resource, world.ids[resource])
    assert_not_found(await world.bob.delete(f"/api/{resource}/{world.ids[resource]}"))
    assert await snapshot(api, resource, world.ids[resource]) == before


async def test_deleting_another_users_user_row_is_403_for_every_id_and_it_stays(api, world):
    before = await snapshot(api, "users", "alice")
    assert (await world.bob.delete("/api/users/alice")).status == 403
    assert (await world.bob.delete("/api/users/no-such-user")).status == 403
    assert await snapshot(api, "users", "alice") == before


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_another_users_row_and_a_missing_row_look_the_same(api, world, resource):
    theirs = await world.bob.get(f"/api/{resource}/{world.ids[resource]}")
    missing = await world.bob.get(f"/api/{resource}/00000000-0000-0000-0000-000000000000")
    assert (theirs.status, theirs.json["title"]) == (missing.status, missing.json["title"])


# --- lists: filters, sort, cursors, embedding ---------------------------------------------------------


def ids_of(result):
    assert result.status == 200, result.text
    return [row["id"] for row in result.json["data"]]


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_another_users_rows_are_not_listed(api, world, resource):
    assert ids_of(await world.bob.get(f"/api/{resource}")) == [world.bobs[resource]]


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_filtering_by_another_users_id_finds_nothing(api, world, resource):
    assert ids_of(await world.bob.get(f"/api/{resource}?id={world.ids[resource]}")) == []


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_filtering_by_in_with_another_users_id_finds_only_your_own(api, world, resource):
    both = f"{world.ids[resource]},{world.bobs[resource]}"
    assert ids_of(await world.bob.get(f"/api/{resource}?id[in]={both}")) == [world.bobs[resource]]


@pytest.mark.parametrize(("resource", "owner"), [("agents", "user_id"), ("teams", "owner_id")])
async def test_filtering_by_another_users_owner_field_finds_nothing(api, world, resource, owner):
    assert ids_of(await world.bob.get(f"/api/{resource}?{owner}=alice")) == []


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_filtering_by_a_prefix_of_another_users_name_finds_nothing(api, world, resource):
    assert ids_of(await world.bob.get(f"/api/{resource}?name[like]=Alice%25")) == []


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_sorting_never_reveals_another_users_rows(api, world, resource):
    for sort in ("name", "-name", "created_at", "-id"):
        assert ids_of(await world.bob.get(f"/api/{resource}?sort={sort}")) == [world.bobs[resource]]


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_following_cursors_never_reaches_another_users_rows(api, world, resource):
    for i in range(2):
        await world.bob.post(f"/api/{resource}", json={"name": f"Bob's extra {i}"})
    seen, url = [], f"/api/{resource}?sort=name&limit=1"
    while url:
        page = await world.bob.get(url)
        seen += ids_of(page)
        next_cursor = page.json["meta"]["next_cursor"]
        url = f"/api/{resource}?sort=name&limit=1&cursor={next_cursor}" if next_cursor else None
    assert len(seen) == 3
    assert world.ids[resource] not in seen


@pytest.mark.parametrize("resource", ["agents", "teams"])
async def test_a_cursor_forged_at_another_users_row_reveals_nothing(api, world, resource):
    spec_resource = api.spec.resources[resource]
    sort = (SortKey("name"), SortKey("id"))
    forged = cursor.encode(spec_resource, sort, {"name": "A", "id": world.ids[resource]})
    result = await world.bob.get(f"/api/{resource}?sort=name&cursor={forged}")
    assert ids_of(result) == [world.bobs[resource]]


async def test_embedding_members_never_reveals_another_users_team(api, world):
    result = await world.bob.get("/api/teams?include=members")
    assert ids_of(result) == [world.bobs["teams"]]


# --- nested routes of another user's team ------------------------------------------------------------


async def team_members(api, team_id):
    return sorted(r["user_id"] for r in await api.sql("select user_id from team_members where team_id = $1", team_id))


async def test_another_users_team_members_are_404(api, world):
    assert_not_found(await world.bob.get(f"/api/teams/{world.ids['teams']}/members"))


async def test_another_users_team_member_is_404(api, world):
    assert_not_found(await world.bob.get(f"/api/teams/{world.ids['teams']}/members/alice"))


async def test_joining_another_users_team_is_404_and_adds_nobody(api, world):
    before = await team_members(api, world.ids["teams"])
    assert_not_found(await world.bob.post(f"/api/teams/{world.ids['teams']}/members", json={"user_id": "bob"}))
    assert await team_members(api, world.ids["teams"]) == before


async def test_changing_a_member_of_another_users_team_is_404_and_unchanged(api, world):
    before = await api.sql("select * from team_members where team_id = $1", world.ids["teams"])
    result = await world.bob.patch(f"/api/teams/{world.ids['teams']}/members/alice", json={"role": "member"})
    assert_not_found(result)
    assert await api.sql("select * from team_members where team_id = $1", world.ids["teams"]) == before


async def test_removing_a_member_of_another_users_team_is_404_and_removes_nobody(api, world):
    before = await team_members(api, world.ids["teams"])
    assert_not_found(await world.bob.delete(f"/api/teams/{world.ids['teams']}/members/alice"))
    assert await team_members(api, world.ids["teams"]) == before


async def test_another_users_team_agents_are_404(api, world):
    assert_not_found(await world.bob.get(f"/api/teams/{world.ids['teams']}/agents"))


async def test_sharing_an_agent_into_another_users_team_is_404(api, world):
    url = f"/api/teams/{world.ids['teams']}/agents"
    assert_not_found(await world.bob.post(url, json={"agent_id": world.bobs["agents"]}))
    assert await api.sql("select * from team_agents") == []


async def test_sharing_another_users_agent_into_your_team_is_422_as_if_it_did_not_exist(api, world):
    url = f"/api/teams/{world.bobs['teams']}/agents"
    result = await world.bob.post(url, json={"agent_id": world.ids["agents"]})
    assert result.status == 422
    assert result.json["errors"] == [{"path": "/agent_id", "message": "no agents row you may update has this id"}]
    assert await api.sql("select * from team_agents") == []
