"""Small steps the team tests share: create a team, add members, create and share agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


async def create_team(client: Any, name: str = "Core", **fields: Any) -> str:
    created = await client.post("/api/teams", json={"name": name, **fields})
    assert created.status == 201, created.text
    return created.json["data"]["id"]


async def add_member(client: Any, team_id: str, user_id: str, role: str = "member") -> dict[str, Any]:
    added = await client.post(f"/api/teams/{team_id}/members", json={"user_id": user_id, "role": role})
    assert added.status == 201, added.text
    return added.json["data"]


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
    await add_member(alice, team_id, "bob", "admin")
    await add_member(alice, team_id, "carol", "member")
    return Team(team_id, alice, bob, carol, dave)
