"""Deletes follow the declared references (on_delete: cascade), each in one transaction; a soft
delete (agents, teams) leaves the references until the purge removes the row."""

from __future__ import annotations

import pytest
from team_helpers import add_member, create_agent, create_team, share_agent

from engine import hookimpl
from engine.db.pool import connect
from engine.features.soft_delete.commands import purge_all
from engine.kernel.errors import Conflict


async def count(api, table: str, where: str = "true", *args) -> int:
    rows = await api.sql(f"select count(*) as n from {table} where {where}", *args)  # names are literals here
    return rows[0]["n"]


async def alice_and_bob_share_a_team(api):
    """alice owns a team with an agent of hers; bob is a member and shares an agent of his."""
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob", "admin")
    alices_agent, bobs_agent = await create_agent(alice), await create_agent(bob)
    await share_agent(alice, team_id, alices_agent)
    await share_agent(bob, team_id, bobs_agent)
    return alice, bob, team_id, alices_agent, bobs_agent


async def test_deleting_a_user_removes_their_agents_teams_and_join_rows(api):
    _, _, team_id, _, _ = await alice_and_bob_share_a_team(api)
    admin = await api.as_admin()
    assert (await admin.delete("/api/users/alice")).status == 204
    assert await count(api, "agents", "user_id = 'alice'") == 0
    assert await count(api, "teams", "owner_id = 'alice'") == 0
    assert await count(api, "team_members", "team_id = $1", team_id) == 0
    assert await count(api, "team_agents", "team_id = $1", team_id) == 0


async def test_deleting_a_user_keeps_other_users_rows(api):
    await alice_and_bob_share_a_team(api)
    admin = await api.as_admin()
    await admin.delete("/api/users/alice")
    assert await count(api, "users", "id = 'bob'") == 1
    assert await count(api, "agents", "user_id = 'bob'") == 1


async def test_deleting_a_member_removes_only_their_memberships_and_shared_agents(api):
    _, _, team_id, alices_agent, _ = await alice_and_bob_share_a_team(api)
    admin = await api.as_admin()
    assert (await admin.delete("/api/users/bob")).status == 204
    members = await api.sql("select user_id from team_members where team_id = $1", team_id)
    assert [r["user_id"] for r in members] == ["alice"]
    shared = await api.sql("select agent_id::text from team_agents where team_id = $1", team_id)
    assert [r["agent_id"] for r in shared] == [alices_agent]


async def purge_deleted(api) -> None:
    """Agents and teams are soft-deleted (resources.yaml): their purge is when references cascade."""
    await api.sql("update agents set deleted_at = now() - interval '31 days' where deleted_at is not null")
    await api.sql("update teams set deleted_at = now() - interval '31 days' where deleted_at is not null")
    conn = await connect(api.database_url, schema=api.schema)
    try:
        await purge_all(conn, api.spec)
    finally:
        await conn.close()


async def test_deleting_an_agent_keeps_its_join_rows_until_the_purge_removes_them_only(api):
    alice, _, team_id, alices_agent, _ = await alice_and_bob_share_a_team(api)
    assert (await alice.delete(f"/api/agents/{alices_agent}")).status == 204
    assert await count(api, "team_agents", "agent_id = $1", alices_agent) == 1
    await purge_deleted(api)
    assert await count(api, "team_agents", "agent_id = $1", alices_agent) == 0
    assert await count(api, "team_agents", "team_id = $1", team_id) == 1
    assert await count(api, "teams", "id = $1", team_id) == 1


async def test_purging_a_deleted_team_removes_its_join_rows_and_keeps_the_agents(api):
    alice, _, team_id, _, _ = await alice_and_bob_share_a_team(api)
    assert (await alice.delete(f"/api/teams/{team_id}")).status == 204
    assert await count(api, "team_members", "team_id = $1", team_id) == 2
    await purge_deleted(api)
    assert await count(api, "team_members", "team_id = $1", team_id) == 0
    assert await count(api, "team_agents", "team_id = $1", team_id) == 0
    assert await count(api, "agents") == 2


class FailAfterDeletingUsers:
    """A test plugin whose after_write fails once a user row is gone (inside the delete's transaction)."""

    @hookimpl
    def after_write(self, resource, action):
        if resource.name == "users" and action == "delete":
            raise Conflict("refused after the fact")


@pytest.mark.parametrize("engine_plugins", [[FailAfterDeletingUsers()]], ids=["failing-after-write"])
async def test_a_failed_delete_rolls_back_every_cascaded_row(api, expect_problem):
    _, _, team_id, _, _ = await alice_and_bob_share_a_team(api)
    admin = await api.as_admin()
    expect_problem(await admin.delete("/api/users/alice"), 409)
    assert await count(api, "users", "id = 'alice'") == 1
    assert await count(api, "agents") == 2
    assert await count(api, "team_members", "team_id = $1", team_id) == 2
    assert await count(api, "team_agents", "team_id = $1", team_id) == 2
