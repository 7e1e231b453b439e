"""`resource-engine history prune` and `resource-engine soft-delete purge`, run as commands on the example app."""

from __future__ import annotations

from pathlib import Path

from process_support import engine_env as process_env
from process_support import run_engine

ROOT = Path(__file__).resolve().parent.parent


async def command(engine_database_url: str, engine_schema: str, *args: str):
    return await run_engine(*args, cwd=ROOT, env=process_env(engine_database_url, engine_schema))


async def test_history_prune_keeps_the_newest_100_versions_of_an_agent(api, engine_database_url, engine_schema):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "a"})).json["data"]
    await api.sql(
        "insert into agents_history (record_id, version, action, data) "
        "select $1, v, 'updated', '{}'::jsonb from generate_series(2, 103) as v",
        agent["id"],
    )
    done = await command(engine_database_url, engine_schema, "history", "prune")
    assert done.code == 0, done.output
    assert "agents: pruned 3 version(s)" in done.output
    rows = await api.sql(
        "select min(version) as low, count(*) as n from agents_history where record_id = $1", agent["id"]
    )
    assert dict(rows[0]) == {"low": 4, "n": 100}


async def test_soft_delete_purge_removes_the_rows_deleted_more_than_30_days_ago(
    api, engine_database_url, engine_schema
):
    alice = await api.as_user("alice")
    old, recent = [(await alice.post("/api/agents", json={"name": n})).json["data"] for n in ("old", "recent")]
    for agent in (old, recent):
        await alice.delete(f"/api/agents/{agent['id']}")
    await api.sql("update agents set deleted_at = now() - interval '31 days' where id = $1", old["id"])
    done = await command(engine_database_url, engine_schema, "soft-delete", "purge")
    assert done.code == 0, done.output
    assert "agents: purged 1 deleted row(s)" in done.output
    assert [str(r["id"]) for r in await api.sql("select id from agents")] == [recent["id"]]
