"""Each process keeps the set of retired user ids, fed by LISTEN, so an authenticated request costs
no query; whenever the set cannot be sure, the table answers (docs/auth.md, "Deleting a user")."""

from __future__ import annotations

import asyncio

from engine.db.pool import connect
from engine.features.accounts.plugin import KNOWN
from engine.features.accounts.retired import CHANNEL, retire

BOUND = 10.0  # seconds: an upper bound for a notice to arrive, never a measured duration


async def until(condition, within: float = BOUND) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a notice sets no event the test could await
            await asyncio.sleep(0.01)


async def retire_elsewhere(api, user_id: str) -> None:
    """What a delete in another worker does: the retirement and its notice, committed together."""
    conn = await connect(api.database_url, schema=api.schema)
    try:
        async with conn.transaction():
            await retire(conn, user_id)
    finally:
        await conn.close()


async def delete_user(api, user_id):
    admin = await api.as_admin()
    assert (await admin.delete(f"/api/users/{user_id}")).status == 204


async def test_the_set_answers_once_the_listener_has_loaded_the_table(api):
    known = api.app[KNOWN]
    assert known.answering
    assert known.retired("alice") is False


async def test_a_retirement_committed_in_another_process_is_refused_here(api):
    alice = await api.as_user("alice")
    await retire_elsewhere(api, "alice")
    await until(lambda: api.app[KNOWN].retired("alice"))
    assert (await alice.get("/api/agents")).status == 401


async def test_the_deleting_process_knows_at_once_without_its_own_notice(api):
    alice = await api.as_user("alice")
    known = api.app[KNOWN]
    await known.conn.execute("UNLISTEN *")  # deaf to notices, its own included
    await delete_user(api, "alice")
    assert known.retired("alice") is True
    assert (await alice.get("/api/agents")).status == 401


async def test_a_delete_that_rolls_back_leaves_the_user_live_in_the_set(api):
    alice = await api.as_user("alice")
    for statement in (
        "create function veto() returns trigger language plpgsql as $$ begin raise exception 'veto'; end $$",
        "create constraint trigger veto after delete on users deferrable initially deferred "
        "for each row execute function veto()",
    ):
        await api.sql(statement)
    admin = await api.as_admin()
    assert (await admin.delete("/api/users/alice")).status != 204
    assert api.app[KNOWN].retired("alice") is False
    assert (await alice.get("/api/agents")).status == 200


async def test_while_the_listener_is_down_the_table_answers(api):
    alice = await api.as_user("alice")
    known = api.app[KNOWN]
    await known.stop()  # as if the connection were lost for good
    assert known.retired("alice") is None
    await api.sql("insert into _engine_retired_users (user_id) values ('alice')")  # no notice at all
    assert (await alice.get("/api/agents")).status == 401


async def test_after_a_lost_connection_the_set_reloads_what_it_missed(api):
    known = api.app[KNOWN]
    loads = known.loads
    pid = known.conn.get_server_pid()
    await api.sql("insert into _engine_retired_users (user_id) values ('bob')")  # committed without a notice
    await api.sql("select pg_terminate_backend($1)", pid)
    await until(lambda: known.loads > loads)
    assert known.retired("bob") is True


async def test_notices_of_another_schema_are_ignored(api):
    known = api.app[KNOWN]
    await api.sql("select pg_notify($1, 'another_schema:carol')", CHANNEL)
    await retire_elsewhere(api, "dave")  # sent after the other schema's notice, so delivered after it
    await until(lambda: known.retired("dave"))
    assert known.retired("carol") is False
