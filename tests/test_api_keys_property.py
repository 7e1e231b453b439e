"""Property: over random scopes and role changes, an API key never does what its owner may not do now.

Hypothesis draws the roles the owner holds when creating the key, the roles and scopes the key
asks for, and the roles the owner holds afterwards: what the users resource's roles column says
(the built-in answer to `user_roles`, `roles_field`) and what a project's own role source answers
(or no answer), a promotion or a demotion; the owner holds their union. Every action on every
resource is then tried with the key and with an access token carrying the owner's current roles;
the key may succeed only where the token succeeds and its scopes cover the action.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roles_support import USER_SCHEMA, USERS

from engine.plugin import hookimpl
from engine.testing import ApiClient

EXAMPLES = int(os.environ.get("PROOF_EXAMPLES", 30))
ROLES = ["editor", "auditor", "admin"]
RESOURCES = ["notes", "reports"]
SCOPES = [f"{r}:{kind}" for r in [*RESOURCES, "*"] for kind in ("read", "write")]
SCHEMA = {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"}}}
SPEC = (
    """
version: 1
resources:"""
    + USERS
    + """
  notes:
    schema: schemas/item.json
    permissions: {list: [user], read: [user], create: [editor], update: [editor], delete: [admin]}
  reports:
    schema: schemas/item.json
    permissions: {list: [auditor], read: [auditor], create: [admin], update: [editor], delete: [auditor]}
"""
)


class RoleSource:
    """The project's record of who holds which role now (what a users table or directory would say)."""

    def __init__(self) -> None:
        self.roles: dict[str, frozenset[str]] = {}

    @hookimpl
    def user_roles(self, user_id: str) -> frozenset[str] | None:
        return self.roles.get(user_id)


SOURCE = RoleSource()


@pytest.fixture
def engine_spec_path(write_spec) -> str:
    return str(write_spec(SPEC, {"schemas/item.json": SCHEMA, "schemas/user.json": USER_SCHEMA}))


@pytest.fixture
def engine_plugins() -> list[Any]:
    return [SOURCE]


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "100000000/second"}


def allowed(status: int) -> bool:
    assert status in (200, 201, 204, 403, 404), status
    return status != 403


async def attempts(client: ApiClient, item_ids: dict[str, str]) -> dict[tuple[str, str], bool]:
    """Whether each action on each resource is allowed (404: allowed past the role check, no row)."""
    results = {}
    for resource in RESOURCES:
        base, item = f"/api/{resource}", f"/api/{resource}/{item_ids[resource]}"
        results[(resource, "list")] = allowed((await client.get(base)).status)
        results[(resource, "read")] = allowed((await client.get(item)).status)
        results[(resource, "update")] = allowed((await client.patch(item, json={"title": "t"})).status)
        results[(resource, "create")] = allowed((await client.post(base, json={"title": "n"})).status)
        results[(resource, "delete")] = allowed(
            (await client.delete(f"{base}/00000000-0000-4000-8000-000000000000")).status
        )
    return results


def covered(scopes: set[str], resource: str, action: str) -> bool:
    kind = "read" if action in ("list", "read") else "write"
    return f"{resource}:{kind}" in scopes or f"*:{kind}" in scopes


async def check(api: Any, counter: itertools.count, drawn: dict[str, Any]) -> None:
    owner = f"owner{next(counter)}"
    SOURCE.roles.pop(owner, None)
    now = drawn["column"] | (drawn["plugin"] or frozenset())
    creator = api.with_token(api.token(owner, sorted(drawn["then"])))
    body = {"name": "k", "scopes": sorted(drawn["scopes"])}
    if drawn["asked"] is not None:
        body["roles"] = sorted(drawn["asked"])
    created = await creator.post("/api/me/api-keys", json=body)
    if drawn["asked"] is not None and not drawn["asked"] <= drawn["then"]:
        assert created.status == 422, created.text  # a key never asks for a role its creator lacks
        return
    assert created.status == 201, created.text
    await api.sql(
        "insert into users (id, email, roles) values ($1, $2, $3::jsonb)",
        owner,
        f"{owner}@example.test",
        json.dumps(sorted(drawn["column"])),
    )
    if drawn["plugin"] is not None:
        SOURCE.roles[owner] = drawn["plugin"]
    admin = api.with_token(api.token("root", ["admin"]))
    item_ids = {r: (await admin.post(f"/api/{r}", json={"title": "x"})).json["data"]["id"] for r in RESOURCES}
    key = ApiClient(api.client, {"X-API-Key": created.json["data"]["key"]})
    by_key = await attempts(key, item_ids)
    by_owner = await attempts(api.with_token(api.token(owner, sorted(now))), item_ids)
    for (resource, action), ok in by_key.items():
        if ok:
            assert by_owner[(resource, action)], f"the key may {action} {resource} but its owner may not: {drawn}"
            assert covered(drawn["scopes"], resource, action), f"{action} {resource} outside the scopes: {drawn}"


role_sets = st.frozensets(st.sampled_from(ROLES))
drawings = st.fixed_dictionaries(
    {
        "then": role_sets,
        "asked": st.none() | role_sets,
        "column": role_sets,
        "plugin": st.none() | role_sets,
        "scopes": st.frozensets(st.sampled_from(SCOPES), min_size=1),
    }
)


async def test_a_keys_rights_never_exceed_its_owners(api):
    loop, counter = asyncio.get_running_loop(), itertools.count()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(drawings)
    def prop(drawn: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(check(api, counter, drawn), loop).result(timeout=120)

    await loop.run_in_executor(None, prop)
