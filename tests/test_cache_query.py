"""The query-result cache in process: repeated reads are served from memory, every write through the
engine (in this worker or another) makes the affected entries unreachable, callers never share
answers they should not."""

from __future__ import annotations

import asyncio
import os

import pytest
from protection_support import cache_notices, eventually, second_api_fixture  # noqa: F401

from engine.features.query_cache.listener import CHANNEL
from engine.features.query_cache.plugin import LISTENER, QUERY_CACHE
from engine.features.query_cache.stats import CACHE_STATS
from engine.http.keys import MANAGERS
from engine.resources.bulk import BulkWriter
from engine.resources.context import WriteContext

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "off"}


async def a_tag(api, name: str = "urgent") -> str:
    """A tag, created through the API; returns once this worker applied the write's notice, so
    the counters below count only what each test does."""
    admin = await api.as_admin()
    created = await admin.post("/api/tags", json={"name": name})
    assert created.status == 201, created.text
    await api.app[LISTENER].settle()
    return created.headers["Location"]


def stats(api):
    return api.app[CACHE_STATS]


async def test_a_repeated_read_is_served_without_the_database(api):
    location = await a_tag(api)
    assert (await api.anonymous.get(location)).json["data"]["name"] == "urgent"
    await api.sql("update tags set name = 'changed behind the engine'")
    assert (await api.anonymous.get(location)).json["data"]["name"] == "urgent"
    assert (stats(api).misses, stats(api).hits) == (1, 1)


async def test_a_write_through_the_api_is_seen_by_the_next_read(api):
    location = await a_tag(api)
    await api.anonymous.get("/api/tags")
    admin = await api.as_admin()
    assert (await admin.patch(location, json={"name": "renamed"})).status == 200
    assert [t["name"] for t in (await api.anonymous.get("/api/tags")).json["data"]] == ["renamed"]


async def test_a_delete_is_seen_by_the_next_read(api):
    location = await a_tag(api)
    assert (await api.anonymous.get(location)).status == 200
    assert (await (await api.as_admin()).delete(location)).status == 204
    assert (await api.anonymous.get(location)).status == 404


async def test_a_create_is_seen_by_the_next_list(api):
    alice = await api.as_user("alice")
    assert (await alice.get("/api/notes")).json["data"] == []
    await alice.post("/api/notes", json={"title": "new"})
    assert [n["title"] for n in (await alice.get("/api/notes")).json["data"]] == ["new"]


async def test_callers_with_different_access_never_share_an_answer(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    await alice.post("/api/notes", json={"title": "alice's"})
    assert len((await alice.get("/api/notes")).json["data"]) == 1
    assert (await bob.get("/api/notes")).json["data"] == []


async def test_callers_with_the_same_access_share_an_answer(api):
    await a_tag(api)
    bob, carol = await api.as_user("bob"), await api.as_user("carol")
    await bob.get("/api/tags")
    await carol.get("/api/tags")
    assert (stats(api).misses, stats(api).hits) == (1, 1)


async def test_a_caller_refused_by_permissions_gets_no_cached_answer(api, expect_problem):
    alice = await api.as_user("alice")
    await alice.get("/api/notes")
    expect_problem(await api.anonymous.get("/api/notes"), 401)


async def test_the_order_of_query_parameters_does_not_matter(api):
    await a_tag(api)
    await api.anonymous.get("/api/tags?limit=5&sort=name")
    await api.anonymous.get("/api/tags?sort=name&limit=5")
    assert stats(api).hits == 1


async def test_different_queries_are_different_entries(api):
    await a_tag(api)
    await api.anonymous.get("/api/tags?limit=5")
    await api.anonymous.get("/api/tags?limit=6")
    assert (stats(api).misses, stats(api).hits) == (2, 0)


async def test_a_cached_answer_keeps_its_etag_and_answers_304(api):
    location = await a_tag(api)
    first = await api.anonymous.get(location)
    cached = await api.anonymous.get(location)
    assert cached.headers["ETag"] == first.headers["ETag"]
    assert (await api.anonymous.get(location, headers={"If-None-Match": first.headers["ETag"]})).status == 304


async def test_a_write_to_a_connected_resource_invalidates_the_group(api):
    await a_tag(api)
    await api.anonymous.get("/api/tags")
    alice = await api.as_user("alice")
    note = (await alice.post("/api/notes", json={"title": "n"})).json["data"]
    tag = (await api.anonymous.get("/api/tags")).json["data"][0]
    await (await api.as_admin()).post("/api/note_tags", json={"note_id": note["id"], "tag_id": tag["id"]})
    before = stats(api).misses
    await api.anonymous.get("/api/tags")
    assert stats(api).misses == before + 1


async def test_a_write_to_an_unrelated_resource_keeps_the_cache(api):
    await a_tag(api)
    await api.anonymous.get("/api/tags")
    alice = await api.as_user("alice")
    assert (await alice.post("/api/drafts", json={"text": "unrelated"})).status == 201
    await api.anonymous.get("/api/tags")
    assert stats(api).hits == 1


async def test_a_failed_write_changes_nothing_and_reads_stay_correct(api, expect_problem):
    location = await a_tag(api)
    await api.anonymous.get(location)
    expect_problem(await (await api.as_admin()).patch(location, json={"name": ""}), 422)
    assert (await api.anonymous.get(location)).json["data"]["name"] == "urgent"


async def test_resources_without_cache_are_never_cached(api):
    alice = await api.as_user("alice")
    await alice.get("/api/drafts")
    await alice.get("/api/drafts")
    assert (stats(api).hits, stats(api).misses) == (0, 0)


async def test_a_write_outside_any_request_reaches_the_cache(api):
    location = await a_tag(api)
    await api.anonymous.get(location)
    tag_id = location.rsplit("/", 1)[1]
    await api.app[MANAGERS]["tags"].update(tag_id, {"name": "from a job"}, None)
    await api.app[LISTENER].settle()
    assert (await api.anonymous.get(location)).json["data"]["name"] == "from a job"


async def test_a_write_in_another_worker_reaches_this_workers_cache(api, second_api):
    location = await a_tag(api)
    await api.anonymous.get(location)
    other_admin = await second_api.as_admin()
    assert (await other_admin.patch(location, json={"name": "from worker 2"})).status == 200
    await api.app[LISTENER].settle()
    assert (await api.anonymous.get(location)).json["data"]["name"] == "from worker 2"


async def test_a_bulk_create_sends_one_notice_for_all_its_rows(api):
    """Other workers hear of a set-based write once, not once per row (a round trip each)."""
    async with cache_notices(api) as notices:
        admin = await api.as_admin()
        created = await admin.post("/api/tags", json=[{"name": f"tag {i}"} for i in range(20)])
        assert created.status == 201, created.text
        await api.app[LISTENER].settle()
    assert [n.rsplit(":", 1)[0] for n in notices if ":tags:" in n] == [f"{api.schema}:tags"]


async def test_a_bulk_create_outside_any_request_sends_one_notice_for_all_its_rows(api):
    """A job's set-based write: one token for the set, so its rows' notices fold into one."""
    manager = api.app[MANAGERS]["tags"]
    async with cache_notices(api) as notices:
        await BulkWriter(manager, 100).create_many([{"name": f"job tag {i}"} for i in range(20)], WriteContext(None))
        await api.app[LISTENER].settle()
    assert [n.rsplit(":", 1)[0] for n in notices if ":tags:" in n] == [f"{api.schema}:tags"]


async def test_a_writes_notice_heard_again_keeps_what_was_cached_since(api, second_api):
    """Each worker moves a group's generation once per write: a notice of the same write heard
    later (a busy worker, another host) must not orphan answers cached after the first move."""
    async with cache_notices(api) as notices:
        location = await a_tag(api)
        await second_api.app[LISTENER].settle()
    await second_api.anonymous.get(location)
    (notice,) = [n for n in notices if ":tags:" in n]
    await api.sql(f"select pg_notify('{CHANNEL}', $1)", notice)
    await second_api.app[LISTENER].settle()
    await second_api.anonymous.get(location)
    assert (stats(second_api).misses, stats(second_api).hits) == (1, 1)


async def test_another_write_to_the_group_still_moves_it(api, second_api):
    location = await a_tag(api)
    await second_api.app[LISTENER].settle()
    await second_api.anonymous.get(location)
    assert (await (await api.as_admin()).patch(location, json={"name": "renamed"})).status == 200
    await second_api.app[LISTENER].settle()
    assert (await second_api.anonymous.get(location)).json["data"]["name"] == "renamed"


async def drop_listener_connection(api) -> None:
    cache, listener = api.app[QUERY_CACHE], api.app[LISTENER]
    await api.sql("select pg_terminate_backend($1)", listener.conn.get_server_pid())
    await eventually(lambda: not cache.listening, "the listener to notice its connection is gone")


async def test_the_cache_is_bypassed_while_the_listener_is_down(api):
    location = await a_tag(api)
    await api.anonymous.get(location)
    await drop_listener_connection(api)
    await api.sql("update tags set name = 'changed behind the engine'")
    assert (await api.anonymous.get(location)).json["data"]["name"] == "changed behind the engine"
    assert stats(api).bypassed == 1


async def test_a_reconnected_listener_drops_everything_cached_before(api):
    location = await a_tag(api)
    await api.anonymous.get(location)
    await drop_listener_connection(api)
    await api.sql("update tags set name = 'written while nobody listened'")
    await eventually(lambda: api.app[QUERY_CACHE].listening, "the listener to reconnect")
    assert (await api.anonymous.get(location)).json["data"]["name"] == "written while nobody listened"


class TestExpiry:
    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of) -> str:
        schema = schema_of({"id": {"type": "string", "format": "uuid", "readOnly": True}, "name": {"type": "string"}})
        path = write_spec(
            """
            version: 1
            resources:
              labels:
                schema: schemas/label.json
                permissions: {list: [anonymous], read: [anonymous], create: [anonymous]}
                cache: {ttl: 1}
            """,
            {"schemas/label.json": schema},
        )
        return str(path)

    async def test_an_entry_is_dropped_after_its_ttl(self, api):
        await api.anonymous.post("/api/labels", json={"name": "first"})
        await api.anonymous.get("/api/labels")
        await api.sql("update labels set name = 'changed behind the engine'")
        await asyncio.sleep(1.1)
        assert (await api.anonymous.get("/api/labels")).json["data"][0]["name"] == "changed behind the engine"
