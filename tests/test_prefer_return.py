"""`Prefer: return=minimal` on the writes of resources and relations: the same write, no body back;
routes whose body is the only copy of a secret always send it."""

from __future__ import annotations

from team_helpers import create_team

MINIMAL = {"Prefer": "return=minimal"}


async def test_a_create_answers_201_with_location_and_etag_and_no_body(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Scout"}, headers=MINIMAL)
    assert created.status == 201
    assert created.text == ""
    assert "Content-Type" not in created.headers
    assert created.headers["Preference-Applied"] == "return=minimal"
    read = await alice.get(created.headers["Location"])
    assert read.json["data"]["name"] == "Scout" and read.headers["ETag"] == created.headers["ETag"]


async def test_an_update_answers_204_with_the_new_etag(api):
    alice = await api.as_user("alice")
    location = (await alice.post("/api/agents", json={"name": "Scout"})).headers["Location"]
    updated = await alice.patch(location, json={"name": "Ranger"}, headers=MINIMAL)
    assert updated.status == 204 and updated.text == ""
    assert (await alice.get(location)).headers["ETag"] == updated.headers["ETag"]


async def test_a_bulk_create_and_a_bulk_update_answer_without_rows(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json=[{"name": "A"}, {"name": "B"}], headers=MINIMAL)
    assert (created.status, created.text) == (201, "")
    updated = await alice.patch("/api/agents?name=A", json={"status": "active"}, headers=MINIMAL)
    assert (updated.status, updated.text) == (204, "")
    rows = await api.sql("select name, status from agents order by name")
    assert [tuple(r) for r in rows] == [("A", "active"), ("B", "draft")]


async def test_a_nested_relation_write_answers_without_the_link(api):
    alice, _ = await api.as_user("alice"), await api.as_user("bob")
    team_id = await create_team(alice)
    agent = (await alice.post("/api/agents", json={"name": "Shared"})).json["data"]["id"]
    shared = await alice.post(f"/api/teams/{team_id}/agents", json={"agent_id": agent}, headers=MINIMAL)
    assert (shared.status, shared.text) == (201, "")
    assert shared.headers["Location"] == f"/api/teams/{team_id}/agents/{agent}"


async def test_return_representation_and_unknown_values_change_nothing(api):
    alice = await api.as_user("alice")
    for prefer in ("return=representation", "return=everything", "count=exact"):
        created = await alice.post("/api/agents", json={"name": "Scout"}, headers={"Prefer": prefer})
        assert created.status == 201 and created.json["data"]["name"] == "Scout"
        assert "Preference-Applied" not in created.headers


async def test_a_refused_write_keeps_its_problem(api, expect_problem):
    alice = await api.as_user("alice")
    body = expect_problem(await alice.post("/api/agents", json={"name": 7}, headers=MINIMAL), 422)
    assert body["errors"][0]["path"] == "/name"


async def test_an_idempotent_replay_is_shaped_by_the_replaying_request(api):
    alice = await api.as_user("alice")
    key = {"Idempotency-Key": "5f0b6c2e-8d1f-4c1a-9a57-0c7f3b1e2d4a"}
    first = await alice.post("/api/agents", json={"name": "Once"}, headers=key)
    again = await alice.post("/api/agents", json={"name": "Once"}, headers={**key, **MINIMAL})
    assert first.status == 201 and first.json["data"]["name"] == "Once"
    assert (again.status, again.text, again.headers["Idempotent-Replayed"]) == (201, "", "true")
    assert again.headers["Location"] == first.headers["Location"]


async def test_a_new_api_keys_secret_is_always_sent(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/me/api-keys", json={"name": "ci", "scopes": ["agents:read"]}, headers=MINIMAL)
    assert created.status == 201, created.text
    assert created.json["data"]["key"].startswith("rek_")


async def test_the_openapi_document_offers_the_preference(api):
    document = (await api.anonymous.get("/openapi.json")).json
    patch = document["paths"]["/api/agents/{id}"]["patch"]
    assert any(p["name"] == "Prefer" for p in patch["parameters"]) and "204" in patch["responses"]
    (prefer,) = [p for p in document["paths"]["/api/agents"]["post"]["parameters"] if p["name"] == "Prefer"]
    assert {"resolution=merge-duplicates", "return=minimal"} <= set(prefer["schema"]["enum"])
