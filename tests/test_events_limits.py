"""Event stream limits: ids within range (400 otherwise), a per-user cap on open streams (429 with
Retry-After), and a bounded replay per request (the stream ends; the client resumes from there)."""

from __future__ import annotations

import pytest
from events_support import body, open_stream, wait_settled
from hypothesis import strategies as st
from load.bridge import check_property

from engine.features.events.hub import REPLAY_LIMIT
from engine.features.events.runtime import EVENTS

OK_STATUSES = {200, 400, 410}  # a stream, a refused id, an id the outbox does not hold


async def test_a_last_event_id_past_the_id_range_is_a_400(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events/stream", headers={"Last-Event-ID": "99999999999999999999"})

    assert expect_problem(result, 400)["parameter"] == "Last-Event-ID"


async def test_a_last_event_id_of_non_ascii_digits_is_a_400(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events/stream?last_event_id=%C2%B2")

    assert expect_problem(result, 400)["parameter"] == "last_event_id"


async def test_a_last_event_id_of_thousands_of_digits_is_a_400(api, expect_problem):
    alice = await api.as_user("alice")

    result = await alice.get("/api/events/stream?last_event_id=" + "9" * 5000)

    expect_problem(result, 400)


HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("²٣\u00a0\t"), max_size=30
)
QUERY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30) | st.integers(-(10**30), 10**30).map(str)


async def test_hostile_last_event_ids_are_a_400_or_a_stream_never_a_500(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "one event at least"})

    async def check(example: tuple[str, str, str]) -> None:
        header, query, resources = example
        params = [("last_event_id", query), ("resources", resources)]
        headers = {**alice.headers, "Last-Event-ID": header}
        async with api.client.get("/api/events/stream", params=params, headers=headers) as response:
            assert response.status in OK_STATUSES, (example, response.status, await response.text())
            if response.status != 200:
                assert response.headers["Content-Type"].startswith("application/problem+json")

    resources = st.sampled_from(["", "agents", "x,", "²", "agents,agents"])
    examples = await check_property(st.tuples(HEADER_TEXT, QUERY_TEXT, resources), check)
    print(f"{examples} hostile stream requests")


class TestStreamCap:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_EVENTS_MAX_STREAMS": "2"}

    async def test_a_user_over_the_stream_cap_gets_429_with_retry_after(self, api, expect_problem):
        alice = await api.as_user("alice")
        async with open_stream(api, alice), open_stream(api, alice):
            result = await alice.get("/api/events/stream")

        problem = expect_problem(result, 429)
        assert "2 event streams" in problem["detail"]
        assert int(result.headers["Retry-After"]) > 0

    async def test_the_cap_is_per_user(self, api):
        alice, bob = await api.as_user("alice"), await api.as_user("bob")
        async with open_stream(api, alice), open_stream(api, alice), open_stream(api, bob):
            held = api.app[EVENTS].hub.streams_per_user
            assert {user: len(claims) for user, claims in held.items()} == {"alice": 2, "bob": 1}

    async def test_a_closed_stream_frees_its_slot(self, api):
        alice = await api.as_user("alice")
        async with open_stream(api, alice), open_stream(api, alice):
            pass
        async with open_stream(api, alice), open_stream(api, alice):
            pass  # opening succeeded (open_stream asserts 200)


class TestBoundedReplay:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_EVENTS_MAX_REPLAY": "3", "ENGINE_EVENTS_BATCH_SIZE": "2"}

    async def test_a_resume_sends_at_most_max_replay_events_then_ends_and_resumes_from_there(self, api):
        alice = await api.as_user("alice")
        for i in range(5):
            await alice.post("/api/agents", json={"name": f"agent {i}"})
        await wait_settled(api)  # else the replay may stop early at one still held back, and go on live

        async with open_stream(api, alice, "?resources=agents&last_event_id=0") as stream:
            first = await stream.events(3)
            end = await stream.next_message()
        async with open_stream(api, alice, "?resources=agents", headers={"Last-Event-ID": first[-1].id}) as stream:
            rest = await stream.events(2)

        assert end.comment == REPLAY_LIMIT
        assert [body(m)["data"]["name"] for m in first + rest] == [f"agent {i}" for i in range(5)]
