"""The role matrix, read from resources.yaml `permissions`: 403 for a role that may not act,
401 for anonymous callers where anonymous access is not declared, admins everywhere.

A second spec (tests/specs/auth) proves the rules are generic: custom roles, anonymous reads,
and anonymous writes to an owned resource that cannot claim an owner.
"""

from __future__ import annotations

import os

import pytest

from engine.spec import load_spec
from engine.spec.model import ACTIONS

SPEC = load_spec(os.path.join(os.path.dirname(__file__), "..", "resources.yaml"))
ROUTES = {
    "list": ("GET", "/api/{r}"),
    "read": ("GET", "/api/{r}/{id}"),
    "create": ("POST", "/api/{r}"),
    "update": ("PATCH", "/api/{r}/{id}"),
    "delete": ("DELETE", "/api/{r}/{id}"),
}
SOME_ID = {"users": "someone"}  # other resources have uuid keys


def roles(resource, action):
    return SPEC.resources[resource].permissions.get(action, ("user",))


def pairs(predicate):
    return [(r, a) for r in SPEC.resources for a in ACTIONS if predicate(roles(r, a))]


async def call(client, resource, action):
    method, path = ROUTES[action]
    url = path.format(r=resource, id=SOME_ID.get(resource, "00000000-0000-0000-0000-000000000000"))
    return await client.request(method, url, json={} if method in ("POST", "PATCH") else None)


@pytest.mark.parametrize(("resource", "action"), pairs(lambda r: "user" not in r and "anonymous" not in r))
async def test_a_user_without_a_permitted_role_is_403(api, resource, action):
    result = await call(await api.as_user("alice"), resource, action)
    assert result.status == 403, result.text
    assert action in result.json["detail"]


@pytest.mark.parametrize(("resource", "action"), pairs(lambda r: "user" in r or "anonymous" in r))
async def test_a_user_passes_the_role_check_where_permitted(api, resource, action):
    result = await call(await api.as_user("alice"), resource, action)
    assert result.status not in (401, 403), result.text


@pytest.mark.parametrize(("resource", "action"), pairs(lambda r: "anonymous" not in r))
async def test_an_anonymous_caller_is_401_where_anonymous_is_not_declared(api, resource, action):
    result = await call(api.anonymous, resource, action)
    assert result.status == 401, result.text
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("resource", "action"), pairs(lambda r: True))
async def test_an_admin_passes_every_role_check(api, resource, action):
    result = await call(await api.as_admin(), resource, action)
    assert result.status not in (401, 403), result.text


class TestCustomRoles:
    @pytest.fixture
    def engine_spec_path(self):
        return os.path.join(os.path.dirname(__file__), "specs", "auth", "resources.yaml")

    async def test_an_editor_may_create_an_article(self, api):
        editor = await api.as_user("erin", ["editor"])
        assert (await editor.post("/api/articles", json={"title": "News"})).status == 201

    async def test_a_plain_user_may_not_create_an_article(self, api):
        user = await api.as_user("alice")
        assert (await user.post("/api/articles", json={"title": "News"})).status == 403

    async def test_an_editor_may_not_delete_what_only_admins_may(self, api):
        editor = await api.as_user("erin", ["editor"])
        created = await editor.post("/api/articles", json={"title": "News"})
        assert (await editor.delete(created.headers["Location"])).status == 403

    async def test_anyone_may_list_articles_where_anonymous_is_declared(self, api):
        editor = await api.as_user("erin", ["editor"])
        await editor.post("/api/articles", json={"title": "News"})
        listed = await api.anonymous.get("/api/articles")
        assert [a["title"] for a in listed.json["data"]] == ["News"]

    async def test_anonymous_may_not_write_where_only_reading_is_declared(self, api):
        assert (await api.anonymous.post("/api/articles", json={"title": "News"})).status == 401

    async def test_an_anonymous_write_to_an_owned_resource_has_no_owner(self, api):
        created = await api.anonymous.post("/api/feedback", json={"text": "Nice"})
        assert created.status == 201
        assert created.json["data"]["user_id"] is None

    async def test_an_anonymous_write_cannot_claim_an_owner(self, api):
        result = await api.anonymous.post("/api/feedback", json={"text": "Nice", "user_id": "alice"})
        assert result.status == 422
        assert result.json["errors"][0]["path"] == "/user_id"
        assert await api.sql("select * from feedback") == []

    async def test_an_anonymous_write_cannot_set_a_protected_field(self, api):
        result = await api.anonymous.post("/api/feedback", json={"text": "Nice", "status": "read"})
        assert result.status == 422
        assert result.json["errors"][0]["path"] == "/status"

    async def test_a_signed_in_write_to_the_same_resource_is_owned_by_the_caller(self, api):
        alice = await api.as_user("alice")
        created = await alice.post("/api/feedback", json={"text": "Nice"})
        assert created.json["data"]["user_id"] == "alice"
