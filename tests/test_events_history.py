"""GET /api/events: the event history with the list query language, under the read rules."""

from __future__ import annotations

from events_support import event_rows


async def two_users_with_agents(api):
    alice = await api.as_user("alice")
    bob = await api.as_user("bob")
    alices = (await alice.post("/api/agents", json={"name": "Alice's"})).json["data"]
    bobs = (await bob.post("/api/agents", json={"name": "Bob's"})).json["data"]
    return alice, bob, alices, bobs


async def test_anonymous_callers_get_401(api, expect_problem):
    expect_problem(await api.anonymous.get("/api/events"), 401)


async def test_an_admin_sees_every_event(api):
    await two_users_with_agents(api)
    admin = await api.as_admin()

    listed = await admin.get("/api/events?limit=100")

    assert [e["id"] for e in listed.json["data"]] == [e["id"] for e in await event_rows(api)]


async def test_a_user_sees_the_events_of_rows_they_own_and_no_others(api):
    alice, _, alices, _ = await two_users_with_agents(api)

    listed = (await alice.get("/api/events?limit=100")).json["data"]

    assert {(e["resource"], e["record_id"]) for e in listed} == {("users", "alice"), ("agents", alices["id"])}


async def test_a_user_still_sees_the_events_of_a_row_they_deleted(api):
    alice, _, alices, _ = await two_users_with_agents(api)
    await alice.delete(f"/api/agents/{alices['id']}")

    listed = (await alice.get(f"/api/events?record_id={alices['id']}")).json["data"]

    assert [e["action"] for e in listed] == ["created", "deleted"]


async def test_a_user_sees_no_events_of_a_resource_only_admins_may_read(api):
    alice = await api.as_user("alice")
    await alice.post("/api/teams", json={"name": "Core"})  # the example app adds alice as a member

    listed = (await alice.get("/api/events?resource=team_members")).json["data"]

    assert listed == []
    assert [e for e in await event_rows(api) if e["resource"] == "team_members"] != []


async def test_events_filter_by_resource_action_record_and_actor(api):
    alice, _, alices, bobs = await two_users_with_agents(api)
    await alice.patch(f"/api/agents/{alices['id']}", json={"name": "Renamed"})
    admin = await api.as_admin()

    updated = await admin.get(f"/api/events?resource=agents&action=updated&record_id={alices['id']}")
    by_bob = await admin.get("/api/events?actor=bob")

    assert [e["changes"]["name"]["after"] for e in updated.json["data"]] == ["Renamed"]
    assert {(e["resource"], e["record_id"]) for e in by_bob.json["data"]} == {("agents", bobs["id"])}


async def test_events_filter_by_id_to_read_what_came_after_an_event(api):
    alice, _, alices, _ = await two_users_with_agents(api)
    first = (await alice.get("/api/events")).json["data"][0]["id"]

    after = (await alice.get(f"/api/events?id[gt]={first}")).json["data"]

    assert [(e["resource"], e["record_id"]) for e in after] == [("agents", alices["id"])]


async def test_events_page_through_with_a_cursor_in_the_requested_order(api):
    alice = await api.as_user("alice")
    for i in range(5):
        await alice.post("/api/agents", json={"name": f"a{i}"})
    seen, path = [], "/api/events?resource=agents&sort=-id&limit=2"

    while path:
        page = await alice.get(path)
        seen += [e["data"]["name"] for e in page.json["data"]]
        cursor = page.json["meta"]["next_cursor"]
        path = f"/api/events?resource=agents&sort=-id&limit=2&cursor={cursor}" if cursor else None

    assert seen == ["a4", "a3", "a2", "a1", "a0"]


async def test_an_unknown_query_parameter_is_a_400_naming_it(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events?colour=red")

    assert "colour" in expect_problem(result, 400)["detail"]


async def test_count_exact_totals_the_events_the_caller_may_read(api):
    alice, _, alices, _ = await two_users_with_agents(api)
    await alice.patch(f"/api/agents/{alices['id']}", json={"name": "Renamed"})

    listed = (await alice.get("/api/events?resource=agents&count=exact&limit=1")).json

    assert (listed["meta"]["total"], listed["meta"]["total_is"]) == (2, "exact")  # not bob's agent's event
    assert len(listed["data"]) == 1


async def test_prefer_count_is_honoured_and_said_so(api):
    alice, _, _, _ = await two_users_with_agents(api)

    listed = await alice.get("/api/events", headers={"Prefer": "count=exact"})

    assert listed.json["meta"]["total"] == len(listed.json["data"]) == 2
    assert listed.headers["Preference-Applied"] == "count=exact"


async def test_an_unknown_count_mode_is_a_400(api, expect_problem):
    alice = await api.as_user("alice")

    assert expect_problem(await alice.get("/api/events?count=all"), 400)["parameter"] == "count"


async def test_list_parameters_that_do_not_apply_to_events_stay_unknown(api, expect_problem):
    alice = await api.as_user("alice")

    assert "group_by" in expect_problem(await alice.get("/api/events?group_by=action"), 400)["detail"]
