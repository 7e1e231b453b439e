"""ETags and conditional requests: 304 for unchanged reads, 412 for writes based on a stale read,
so two clients editing the same agent cannot silently overwrite each other."""

from __future__ import annotations

import asyncio

from agents_support import an_agent
from team_helpers import create_agent, create_team, share_agent


async def test_a_single_row_read_carries_a_strong_etag(api):
    alice = await api.as_user("alice")
    got = await alice.get(await an_agent(alice))
    assert got.headers["ETag"].startswith('"') and got.headers["ETag"].endswith('"')


async def test_if_none_match_with_the_current_etag_is_304_without_a_body(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    again = await alice.get(location, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["ETag"] == etag


async def test_if_none_match_with_an_old_etag_returns_the_row(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    await alice.patch(location, json={"name": "Renamed"})
    again = await alice.get(location, headers={"If-None-Match": etag})
    assert again.status == 200 and again.json["data"]["name"] == "Renamed"


async def test_a_list_carries_an_etag_and_answers_304_while_unchanged(api):
    alice = await api.as_user("alice")
    await an_agent(alice)
    first = await alice.get("/api/agents")
    again = await alice.get("/api/agents", headers={"If-None-Match": f'W/"x", {first.headers["ETag"]}'})
    assert again.status == 304


async def test_a_list_etag_changes_when_a_row_is_added(api):
    alice = await api.as_user("alice")
    await an_agent(alice)
    before = (await alice.get("/api/agents")).headers["ETag"]
    await an_agent(alice, "Second")
    assert (await alice.get("/api/agents")).headers["ETag"] != before


async def test_a_read_with_includes_answers_304_until_an_embedded_row_changes(api):
    alice = await api.as_user("alice")
    team = await create_team(alice)
    location = f"/api/teams/{team}?include=agents"
    etag = (await alice.get(location)).headers["ETag"]
    assert (await alice.get(location, headers={"If-None-Match": etag})).status == 304

    await share_agent(alice, team, await create_agent(alice))

    changed = await alice.get(location, headers={"If-None-Match": etag})
    assert changed.status == 200 and len(changed.json["data"]["agents"]) == 1
    assert changed.headers["ETag"] != etag


async def test_create_and_update_answer_the_etag_a_later_read_gets(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Helper"})
    assert created.headers["ETag"] == (await alice.get(created.headers["Location"])).headers["ETag"]
    updated = await alice.patch(created.headers["Location"], json={"name": "Renamed"})
    assert updated.headers["ETag"] == (await alice.get(created.headers["Location"])).headers["ETag"]


async def test_patch_with_the_current_etag_succeeds(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    updated = await alice.patch(location, json={"name": "Renamed"}, headers={"If-Match": etag})
    assert updated.status == 200 and updated.json["data"]["name"] == "Renamed"


async def test_the_second_of_two_edits_from_the_same_read_is_412(api, expect_problem):
    laptop, phone = await api.as_user("alice"), api.with_token(api.token("alice"))
    location = await an_agent(laptop)
    etag = (await laptop.get(location)).headers["ETag"]
    assert (await phone.get(location)).headers["ETag"] == etag
    assert (await laptop.patch(location, json={"name": "From laptop"}, headers={"If-Match": etag})).status == 200
    lost = await phone.patch(location, json={"name": "From phone"}, headers={"If-Match": etag})
    body = expect_problem(lost, 412)
    assert body["etag"] == (await laptop.get(location)).headers["ETag"]
    assert (await laptop.get(location)).json["data"]["name"] == "From laptop"


async def test_concurrent_edits_from_the_same_read_let_exactly_one_through(api):
    laptop, phone = await api.as_user("alice"), api.with_token(api.token("alice"))
    location = await an_agent(laptop)
    etag = (await laptop.get(location)).headers["ETag"]
    results = await asyncio.gather(
        laptop.patch(location, json={"name": "From laptop"}, headers={"If-Match": etag}),
        phone.patch(location, json={"name": "From phone"}, headers={"If-Match": etag}),
    )
    assert sorted(r.status for r in results) == [200, 412]
    winner = next(r for r in results if r.status == 200).json["data"]["name"]
    assert (await laptop.get(location)).json["data"]["name"] == winner


async def test_delete_with_a_stale_etag_is_412_and_keeps_the_row(api, expect_problem):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    await alice.patch(location, json={"name": "Renamed"})
    expect_problem(await alice.delete(location, headers={"If-Match": etag}), 412)
    assert (await alice.get(location)).status == 200


async def test_delete_with_the_current_etag_deletes(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    assert (await alice.delete(location, headers={"If-Match": etag})).status == 204
    assert (await alice.get(location)).status == 404


async def test_if_match_star_matches_any_existing_row(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    assert (await alice.patch(location, json={"name": "Renamed"}, headers={"If-Match": "*"})).status == 200


async def test_a_weak_etag_never_satisfies_if_match(api, expect_problem):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    expect_problem(await alice.patch(location, json={"name": "X"}, headers={"If-Match": f"W/{etag}"}), 412)


async def test_a_patch_whose_if_none_match_lists_the_current_etag_is_412_and_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]
    expect_problem(await alice.patch(location, json={"name": "X"}, headers={"If-None-Match": etag}), 412)
    assert (await alice.get(location)).headers["ETag"] == etag


async def test_a_patch_whose_if_none_match_lists_an_old_etag_applies(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    old = (await alice.get(location)).headers["ETag"]
    await alice.patch(location, json={"name": "Renamed"})
    assert (await alice.patch(location, json={"name": "Again"}, headers={"If-None-Match": old})).status == 200


async def test_a_delete_with_if_none_match_star_keeps_the_row(api, expect_problem):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    expect_problem(await alice.delete(location, headers={"If-None-Match": "*"}), 412)
    assert (await alice.get(location)).status == 200


async def test_if_match_on_another_users_row_is_still_404(api, expect_problem):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    location = await an_agent(alice)
    expect_problem(await bob.patch(location, json={"name": "Mine"}, headers={"If-Match": "*"}), 404)


async def test_signed_in_responses_are_private(api):
    alice = await api.as_user("alice")
    assert (await alice.get("/api/agents")).headers["Cache-Control"] == "private, no-cache"


async def test_anonymous_responses_must_be_revalidated(api):
    result = await api.anonymous.get("/api/agents")
    assert result.headers["Cache-Control"] == "no-cache"


async def test_the_api_description_documents_conditional_requests(api):
    paths = (await api.anonymous.get("/openapi.json")).json["paths"]
    patch, read = paths["/api/agents/{id}"]["patch"], paths["/api/agents/{id}"]["get"]
    assert "If-Match" in [p["name"] for p in patch["parameters"]] and "412" in patch["responses"]
    assert "If-None-Match" in [p["name"] for p in read["parameters"]] and "304" in read["responses"]
    assert "ETag" in read["responses"]["200"]["headers"]
