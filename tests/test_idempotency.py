"""Idempotency-Key on POST: a retry returns the first response and creates nothing; the same key with
another body is 422; concurrent duplicates never both create."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from engine.features.idempotency.store import claim_id
from engine.kernel.hooks import hookimpl


class HoldCreates:
    """Holds the create of an agent named "held" inside its transaction until released."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def before_write(self, resource, action, data):
        if resource.name == "agents" and action == "create" and data.get("name") == "held":
            self.holding.set()
            await self.release.wait()


@pytest.fixture
def hold() -> HoldCreates:
    return HoldCreates()


@pytest.fixture
def engine_plugins(hold: HoldCreates) -> list:
    return [hold]


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def agents(api) -> list:
    return await api.sql("select id, name from agents")


async def test_a_retry_with_the_same_key_returns_the_first_response(api):
    alice, headers = await api.as_user("alice"), key()
    first = await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    retry = await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    assert (retry.status, retry.body) == (201, first.body)
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"


async def test_a_retry_creates_nothing_new(api):
    alice, headers = await api.as_user("alice"), key()
    for _ in range(3):
        await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    assert len(await agents(api)) == 1


async def test_the_same_json_written_differently_is_the_same_request(api):
    alice, headers = await api.as_user("alice"), key()
    await alice.post("/api/agents", json={"name": "Helper", "status": "active"}, headers=headers)
    spaced = orjson.dumps({"status": "active", "name": "Helper"}, option=orjson.OPT_INDENT_2)
    retry = await alice.post("/api/agents", data=spaced, headers={**headers, "Content-Type": "application/json"})
    assert retry.headers["Idempotent-Replayed"] == "true"


async def test_the_same_key_with_a_different_body_is_422(api, expect_problem):
    alice, headers = await api.as_user("alice"), key()
    await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    body = expect_problem(await alice.post("/api/agents", json={"name": "Other"}, headers=headers), 422)
    assert "different request" in body["detail"]
    assert [row["name"] for row in await agents(api)] == ["Helper"]


async def test_keys_belong_to_their_caller(api):
    alice, bob, headers = await api.as_user("alice"), await api.as_user("bob"), key()
    assert (await alice.post("/api/agents", json={"name": "A"}, headers=headers)).status == 201
    second = await bob.post("/api/agents", json={"name": "A"}, headers=headers)
    assert second.status == 201 and "Idempotent-Replayed" not in second.headers
    assert len(await agents(api)) == 2


async def test_a_request_that_failed_leaves_its_key_free(api, expect_problem):
    alice, headers = await api.as_user("alice"), key()
    expect_problem(await alice.post("/api/agents", json={"name": ""}, headers=headers), 422)
    assert (await alice.post("/api/agents", json={"name": "Fixed"}, headers=headers)).status == 201


async def test_a_duplicate_while_the_first_runs_is_409_and_creates_nothing(api, hold, expect_problem):
    alice, headers = await api.as_user("alice"), key()
    first = asyncio.ensure_future(alice.post("/api/agents", json={"name": "held"}, headers=headers))
    try:
        await asyncio.wait_for(hold.holding.wait(), 10)
        duplicate = await alice.post("/api/agents", json={"name": "held"}, headers=headers)
        expect_problem(duplicate, 409)
        assert duplicate.headers["Retry-After"] == "1"
    finally:
        hold.release.set()
    assert (await first).status == 201
    assert len(await agents(api)) == 1


async def test_concurrent_duplicates_never_both_create(api):
    alice, headers = await api.as_user("alice"), key()
    results = await asyncio.gather(
        *(alice.post("/api/agents", json={"name": "Helper"}, headers=headers) for _ in range(5))
    )
    assert {r.status for r in results} <= {201, 409}
    assert len({r.json["data"]["id"] for r in results if r.status == 201}) == 1
    assert len(await agents(api)) == 1


async def test_posts_without_a_key_are_not_deduplicated(api):
    alice = await api.as_user("alice")
    for _ in range(2):
        await alice.post("/api/agents", json={"name": "Helper"})
    assert len(await agents(api)) == 2


async def test_a_malformed_key_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/agents", json={"name": "x"}, headers={"Idempotency-Key": "x" * 300}), 400)


async def test_keys_are_kept_for_24_hours(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json={"name": "Helper"}, headers=key())
    (row,) = await api.sql("select expires_at - claimed_at as kept from _engine_idempotency")
    assert row["kept"].total_seconds() == 24 * 3600


async def test_an_expired_key_starts_afresh(api):
    alice, headers = await api.as_user("alice"), key()
    await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    await api.sql("update _engine_idempotency set expires_at = now() - interval '1 second'")
    again = await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert len(await agents(api)) == 2


async def test_a_committed_request_whose_response_was_lost_never_runs_again(api, expect_problem):
    alice, headers = await api.as_user("alice"), key()
    await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)
    # As if the worker died between the commit and recording the response, a day ago.
    await api.sql(
        "update _engine_idempotency set status = null, headers = null, body = null,"
        " claimed_at = now() - interval '1 day'"
    )
    body = expect_problem(await alice.post("/api/agents", json={"name": "Helper"}, headers=headers), 409)
    assert "response was lost" in body["detail"]
    assert len(await agents(api)) == 1


async def test_an_abandoned_claim_is_taken_over_after_a_while(api):
    alice, headers = await api.as_user("alice"), key()
    # As if a worker had claimed the key a day ago and died before its write committed.
    await api.sql(
        "insert into _engine_idempotency (id, fingerprint, claimed_at, expires_at)"
        " values ($1, 'another body', now() - interval '1 day', now() + interval '1 day')",
        claim_id("user:alice", headers["Idempotency-Key"]),
    )
    assert (await alice.post("/api/agents", json={"name": "Helper"}, headers=headers)).status == 201


async def test_the_api_description_documents_the_key_on_creates(api):
    create = (await api.anonymous.get("/openapi.json")).json["paths"]["/api/agents"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]


STORE_FAILS_AFTER_COMMIT = [
    """CREATE FUNCTION lose_the_reply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF OLD.committed AND NEW.status IS NOT NULL THEN RAISE EXCEPTION 'the reply was lost'; END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER lose_the_reply BEFORE UPDATE ON _engine_idempotency
       FOR EACH ROW EXECUTE FUNCTION lose_the_reply()""",
]


async def test_a_create_whose_reply_was_lost_after_commit_is_replayed_not_refused(api):
    """The write committed, but storing its reply afterwards failed (a worker dying or the database
    going away between the commit and the reply): a retry with the same key still gets the first 201."""
    alice = await api.as_user("alice")
    for statement in STORE_FAILS_AFTER_COMMIT:
        await api.sql(statement)
    key = {"Idempotency-Key": "lost-reply-1"}
    lost = await alice.post("/api/agents", json={"name": "Once"}, headers=key)
    assert lost.status >= 500
    retry = await alice.post("/api/agents", json={"name": "Once"}, headers=key)
    assert retry.status == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    rows = await api.sql("SELECT id FROM agents WHERE name = 'Once'")
    assert [str(r["id"]) for r in rows] == [retry.json["data"]["id"]]
    assert retry.headers["Location"] == f"/api/agents/{retry.json['data']['id']}"


# --- the writes of many rows (engine.http.bulk) and batches ---------------------------------------


async def test_a_retried_bulk_create_creates_nothing_more_and_replays_the_rows(api):
    alice = await api.as_user("alice")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    items = [{"name": "a"}, {"name": "b"}]
    first = await alice.post("/api/agents", json=items, headers=headers)
    again = await alice.post("/api/agents", json=items, headers=headers)
    assert first.status == again.status == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert (await api.sql("select count(*) from agents"))[0][0] == 2


async def test_a_retried_bulk_delete_replays_its_count(api):
    alice = await api.as_user("alice")
    await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b"}])
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = await alice.delete("/api/agents?name=a", headers=headers)
    await alice.post("/api/agents", json={"name": "a"})
    again = await alice.delete("/api/agents?name=a", headers=headers)
    assert first.json == again.json == {"meta": {"count": 1}}
    assert (await api.sql("select count(*) from agents where name = 'a' and deleted_at is null"))[0][0] == 1


async def test_the_same_key_on_another_filter_is_422(api, expect_problem):
    alice = await api.as_user("alice")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    await alice.patch("/api/agents?name=a", json={"status": "active"}, headers=headers)
    expect_problem(await alice.patch("/api/agents?name=b", json={"status": "active"}, headers=headers), 422)


async def test_a_retried_batch_runs_once(api):
    alice = await api.as_user("alice")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"operations": [{"method": "POST", "path": "/api/agents", "body": {"name": "once"}}]}
    first = await alice.post("/api/batch", json=body, headers=headers)
    again = await alice.post("/api/batch", json=body, headers=headers)
    assert first.status == 200 and again.json == first.json
    assert (await api.sql("select count(*) from agents"))[0][0] == 1


async def test_a_retried_put_replays_the_201(api):
    alice = await api.as_user("alice")
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/api/agents/{uuid.uuid4()}"
    first = await alice.put(path, json={"name": "p"}, headers=headers)
    again = await alice.put(path, json={"name": "p"}, headers=headers)
    assert first.status == again.status == 201 and again.headers["Idempotent-Replayed"] == "true"


async def test_a_bulk_create_keeps_its_whole_answer_for_a_retry(api):
    alice = await api.as_user("alice")
    key = str(uuid.uuid4())
    await alice.post("/api/agents", json=[{"name": "a"}, {"name": "b"}], headers={"Idempotency-Key": key})
    (row,) = await api.sql("select body from _engine_idempotency where id = $1", claim_id("user:alice", key))
    assert [r["name"] for r in orjson.loads(row[0])["data"]] == ["a", "b"]
