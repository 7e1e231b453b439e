"""Small steps the team tests share: create a team, add members, create and share agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


async def create_team(client: Any, name: str = "Core", **fields: Any) -> str:
    created = await client.post("/api/teams", json={"name": name, **fields})
    assert created.status == 201, created.text
    return created.json["data"]["id"]


async def invite(client: Any, team_id: str, user_id: str, role: str = "member") -> dict[str, Any]:
    invited = await client.post(f"/api/teams/{team_id}/members", json={"user_id": user_id, "role": role})
    assert invited.status == 202, invited.text
    return invited.json["data"]


async def add_member(api: Any, client: Any, team_id: str, user_id: str, role: str = "member") -> dict[str, Any]:
    """Invite `user_id` as `client`, then accept as `user_id`: an active membership."""
    await invite(client, team_id, user_id, role)
    invitee = await api.as_user(user_id, create=False)
    accepted = await invitee.post(f"/api/teams/{team_id}/members/{user_id}/accept")
    assert accepted.status == 200, accepted.text
    return accepted.json["data"]


async def create_agent(client: Any, name: str = "Helper", **fields: Any) -> str:
    created = await client.post("/api/agents", json={"name": name, **fields})
    assert created.status == 201, created.text
    return created.json["data"]["id"]


async def share_agent(client: Any, team_id: str, agent_id: str) -> dict[str, Any]:
    shared = await client.post(f"/api/teams/{team_id}/agents", json={"agent_id": agent_id})
    assert shared.status == 201, shared.text
    return shared.json["data"]


@dataclass
class Team:
    """A team owned by alice, with bob as team admin, carol as member; dave is not in it."""

    id: str
    alice: Any
    bob: Any
    carol: Any
    dave: Any

    @property
    def url(self) -> str:
        return f"/api/teams/{self.id}"


async def team_with_roles(api: Any) -> Team:
    alice, bob, carol, dave = [await api.as_user(name) for name in ("alice", "bob", "carol", "dave")]
    team_id = await create_team(alice)
    await add_member(api, alice, team_id, "bob", "admin")
    await add_member(api, alice, team_id, "carol", "member")
    return Team(team_id, alice, bob, carol, dave)
