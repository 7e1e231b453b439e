"""Small steps many tests of the example's agents take."""

from __future__ import annotations


async def an_agent(client, name: str = "Helper") -> str:
    """Create an agent as `client`; its Location."""
    created = await client.post("/api/agents", json={"name": name})
    assert created.status == 201, created.text
    return created.headers["Location"]
