"""Ownership when the owner column is not text: a uuid owner field compares with uuid user ids,
and a user id that cannot be a uuid owns nothing there (a 404, never a database error)."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def engine_spec_path():
    return os.path.join(os.path.dirname(__file__), "specs", "auth", "resources.yaml")


async def test_a_uuid_user_owns_what_they_create(api):
    user_id = str(uuid.uuid4())
    owner = api.with_token(api.token(user_id))
    created = await owner.post("/api/devices", json={"name": "Phone"})
    assert created.status == 201
    assert created.json["data"]["owner_id"] == user_id
    assert (await owner.get(created.headers["Location"])).status == 200


async def test_a_user_id_that_is_not_a_uuid_lists_nothing(api):
    await (await api.as_admin()).post("/api/devices", json={"name": "Phone", "owner_id": str(uuid.uuid4())})
    listed = await api.with_token(api.token("alice")).get("/api/devices")
    assert listed.status == 200
    assert listed.json["data"] == []


async def test_a_user_id_that_is_not_a_uuid_gets_404_not_500(api):
    created = await (await api.as_admin()).post("/api/devices", json={"name": "Phone", "owner_id": str(uuid.uuid4())})
    result = await api.with_token(api.token("alice")).patch(created.headers["Location"], json={"name": "Mine"})
    assert result.status == 404
