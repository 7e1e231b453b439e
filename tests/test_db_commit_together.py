"""Concurrent writes of one statement shape commit together (engine/db/commit_together.py).

Writes gathered in one turn of the event loop (here: started together by `asyncio.gather`) are sent
as one pipeline on one connection, which PostgreSQL runs as one transaction; each caller still gets
exactly the row, and the error, its own statement gives.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlglot import exp, parse_one

from engine.db.commit_together import MAX_WRITERS, POSITION
from engine.db.pool import create_pool, one_connection
from engine.http.keys import MANAGERS, POOL
from engine.http.middleware import DATABASE_UNAVAILABLE
from engine.kernel.errors import Conflict, NotFound
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.sql.compiled import compile_expression, param, tagged

ADMIN = Identity(user_id="admin", roles=frozenset({"user", "admin"}))
TRANSACTION = "txid_current()"  # equal ids prove the writes shared one transaction


def write(sql: str):
    """A write with named slots (`:name`), as the engine builds it, and its tagged form."""
    expression = parse_one(sql, read="postgres").transform(_named)
    return compile_expression(expression), compile_expression(tagged(expression, POSITION))


def _named(node):
    if isinstance(node, exp.Placeholder) and node.this:
        return param(node.name)
    return node


INSERT = write(f"INSERT INTO notes (id, body) VALUES (:id::int, :body::text) RETURNING id, body, {TRANSACTION} AS tx")
RENAME = write(f"UPDATE notes SET body = :body::text WHERE id = :id::int RETURNING id, body, {TRANSACTION} AS tx")


@pytest.fixture
async def pool(engine_database_url, engine_schema):
    pool = await create_pool(
        engine_database_url,
        min_size=12,  # every connection open: writers holding one all reach their statement in one turn
        max_size=12,
        statement_timeout_ms=10_000,
        schema=engine_schema,
        combine_writes=True,
        application_name=engine_schema,  # its sessions, told apart from other tests' in pg_stat_activity
    )
    await pool.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL CHECK (body <> 'refused'))")
    await pool.execute("CREATE TABLE written_order (id int, seq serial)")
    yield pool
    await pool.close()


async def written(pool, statement, values, order=None):
    """One caller's write, holding no connection (as the app's creates and updates do): the first
    writer of a transaction takes one for all."""
    compiled, together = statement
    return await pool.combiner.fetchrow(pool, None, compiled, values, together, order)


async def written_holding(pool, statement, values):
    """One caller's write on a connection of its own (a resource whose plugin hooks may use it)."""
    compiled, together = statement
    async with pool.acquire() as conn:
        return await pool.combiner.fetchrow(pool, conn, compiled, values, together)


def combined_writes() -> float:
    return REGISTRY.get_sample_value("engine_db_combined_writes_total") or 0.0


async def stored(pool) -> dict[int, str]:
    return {row["id"]: row["body"] for row in await pool.fetch("SELECT id, body FROM notes")}


async def test_writes_started_together_commit_in_one_transaction(pool):
    before = combined_writes()

    rows = await asyncio.gather(*(written(pool, INSERT, {"id": n, "body": f"note {n}"}) for n in range(8)))

    assert [(row["id"], row["body"]) for row in rows] == [(n, f"note {n}") for n in range(8)]
    assert len({row["tx"] for row in rows}) == 1
    assert combined_writes() - before == 8
    assert await stored(pool) == {n: f"note {n}" for n in range(8)}


async def test_a_write_past_a_full_group_starts_the_next_transaction(pool):
    # A group's statements run one after another on one backend: two groups of MAX_WRITERS use two.
    rows = await asyncio.gather(*(written(pool, INSERT, {"id": n, "body": "x"}) for n in range(MAX_WRITERS + 4)))

    sizes = sorted(Counter(row["tx"] for row in rows).values())
    assert sizes == [4, MAX_WRITERS]
    assert len(await stored(pool)) == MAX_WRITERS + 4


async def test_writers_holding_connections_commit_together_on_the_first_ones(pool):
    rows = await asyncio.gather(*(written_holding(pool, INSERT, {"id": n, "body": f"note {n}"}) for n in range(5)))

    assert [row["id"] for row in rows] == list(range(5))
    assert len({row["tx"] for row in rows}) == 1


async def test_an_error_reaches_only_its_writer_when_writers_hold_connections(pool):
    await pool.execute("INSERT INTO notes VALUES (2, 'taken')")

    results = await asyncio.gather(
        *(written_holding(pool, INSERT, {"id": n, "body": "x"}) for n in (1, 2, 3)), return_exceptions=True
    )

    assert isinstance(results[1], asyncpg.UniqueViolationError)
    assert [results[0]["id"], results[2]["id"]] == [1, 3]


async def test_a_caller_gets_only_its_own_row_without_the_position_column(pool):
    row = (await asyncio.gather(*(written(pool, INSERT, {"id": n, "body": "x"}) for n in range(3))))[2]

    assert set(row) == {"id", "body", "tx"}
    assert row["id"] == 2


async def test_a_lone_write_runs_its_own_statement(pool):
    before = combined_writes()

    row = await written(pool, INSERT, {"id": 1, "body": "alone"})

    assert row["body"] == "alone"
    assert combined_writes() == before


async def test_a_statement_that_writes_nothing_answers_none_to_its_caller_alone(pool):
    await pool.execute("INSERT INTO notes VALUES (1, 'one'), (3, 'three')")

    rows = await asyncio.gather(*(written(pool, RENAME, {"id": n, "body": f"renamed {n}"}, order=n) for n in (1, 2, 3)))

    assert rows[0]["body"] == "renamed 1"
    assert rows[1] is None
    assert rows[2]["body"] == "renamed 3"
    assert rows[0]["tx"] == rows[2]["tx"]


async def test_an_error_reaches_only_the_writer_whose_values_caused_it(pool):
    await pool.execute("INSERT INTO notes VALUES (2, 'taken')")
    asked = [(1, "a"), (2, "duplicate key"), (3, "refused"), (4, "d")]

    results = await asyncio.gather(
        *(written(pool, INSERT, {"id": n, "body": body}) for n, body in asked), return_exceptions=True
    )

    assert results[0]["body"] == "a"
    assert isinstance(results[1], asyncpg.UniqueViolationError)
    assert isinstance(results[2], asyncpg.CheckViolationError)
    assert results[3]["body"] == "d"
    assert await stored(pool) == {1: "a", 2: "taken", 4: "d"}  # each written once, the refused not at all


async def test_updates_of_one_transaction_run_in_the_order_of_their_keys(pool):
    # Two such transactions then lock rows in the same order and cannot deadlock each other.
    logged = write(f"INSERT INTO written_order (id) VALUES (:id::int) RETURNING seq, {TRANSACTION} AS tx")

    rows = await asyncio.gather(*(written(pool, logged, {"id": n}, order=n) for n in (5, 1, 4, 2, 3)))

    assert len({row["tx"] for row in rows}) == 1
    order = [row["id"] for row in await pool.fetch("SELECT id FROM written_order ORDER BY seq")]
    assert order == [1, 2, 3, 4, 5]


async def test_the_others_are_answered_when_the_first_writer_is_cancelled(pool):
    slow = write(
        "INSERT INTO notes (id, body) SELECT :id::int, :body::text FROM pg_sleep(0.05)"
        f" RETURNING id, {TRANSACTION} AS tx"
    )
    writes = [asyncio.ensure_future(written(pool, slow, {"id": n, "body": "x"})) for n in range(4)]
    await asyncio.sleep(0)  # every write has started: the first leads and waits one turn for the others
    await asyncio.sleep(0)  # the pipeline is on its way

    writes[0].cancel()
    rest = await asyncio.wait_for(asyncio.gather(*writes[1:]), 10)

    assert [row["id"] for row in rest] == [1, 2, 3]
    assert writes[0].cancelled()
    assert sorted(await stored(pool)) == [0, 1, 2, 3]  # the cancelled caller's statement was sent with the others


async def test_a_writer_cancelled_while_gathering_is_left_out(pool):
    writes = [asyncio.ensure_future(written(pool, INSERT, {"id": n, "body": "x"})) for n in range(4)]
    await asyncio.sleep(0)  # the first leads, waiting one turn; the others have joined it

    writes[2].cancel()
    answered = await asyncio.wait_for(asyncio.gather(writes[0], writes[1], writes[3]), 10)

    assert [row["id"] for row in answered] == [0, 1, 3]
    assert 2 not in await stored(pool)


async def test_a_connection_lost_mid_transaction_fails_every_writer_and_runs_nothing_again(pool, engine_schema):
    # Whether the transaction committed is unknown when its connection dies (here it did not):
    # running the writes again could write them twice, so each writer gets the error instead.
    slow = write(
        "INSERT INTO notes (id, body) SELECT :id::int, :body::text FROM pg_sleep(0.3)"
        f" RETURNING id, {TRANSACTION} AS tx"
    )
    # Only a backend sleeping inside the statement: an idle one whose last query named pg_sleep (this
    # poll's own connection, or the leader's between its Parse and its Bind) would be killed before
    # the pipeline is sent, which is another test.
    running = f"FROM pg_stat_activity WHERE application_name = '{engine_schema}' AND wait_event = 'PgSleep'"
    writes = [asyncio.ensure_future(written(pool, slow, {"id": n, "body": "x"})) for n in range(3)]
    for _ in range(100):  # the pipeline's first statement is running
        if await pool.fetchval(f"SELECT count(*) {running}"):
            break
        await asyncio.sleep(0.02)
    await pool.execute(f"SELECT pg_terminate_backend(pid) {running}")

    results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)

    assert all(isinstance(r, DATABASE_UNAVAILABLE) for r in results), results  # each request: a 503
    await asyncio.sleep(0.5)  # were a writer to run its statement again, it would have by now
    assert await stored(pool) == {}


async def test_a_connection_in_a_transaction_never_carries_other_writes(pool):
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        compiled, together = INSERT
        mine, theirs = await asyncio.gather(
            pool.combiner.fetchrow(pool, conn, compiled, {"id": 1, "body": "mine"}, together),
            written(pool, INSERT, {"id": 2, "body": "theirs"}),
        )
        await transaction.rollback()

    assert mine["tx"] != theirs["tx"]
    assert await stored(pool) == {2: "theirs"}


async def test_a_task_holding_a_connection_between_statements_never_waits_for_another(
    engine_database_url, engine_schema
):
    # Two tasks hold the pool's two connections inside one_connection(); a third task's write leads
    # and needs a connection for the transaction. Were the two to join it, they would wait for it
    # while holding what it waits for.
    pool = await create_pool(
        engine_database_url,
        min_size=0,
        max_size=2,
        statement_timeout_ms=10_000,
        schema=engine_schema,
        combine_writes=True,
    )
    await pool.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
    go = asyncio.Event()

    async def holding(n: int):
        async with one_connection():
            await pool.fetchval("SELECT 1")  # the block now holds one of the two connections
            await go.wait()
            return await written(pool, INSERT, {"id": n, "body": "held"})

    try:
        held = [asyncio.ensure_future(holding(n)) for n in (1, 2)]
        while pool.get_idle_size() or pool.get_size() < 2:  # noqa: ASYNC110 - both blocks hold a connection
            await asyncio.sleep(0.01)
        leading = asyncio.ensure_future(written(pool, INSERT, {"id": 0, "body": "leads"}))
        go.set()  # the two wake in the turn the leader waits in
        rows = await asyncio.wait_for(asyncio.gather(leading, *held), 10)
    finally:
        await pool.close()

    assert [row["id"] for row in rows] == [0, 1, 2]


async def test_a_pool_made_without_combining_has_no_combiner(engine_database_url):
    pool = await create_pool(engine_database_url, min_size=0, max_size=2, statement_timeout_ms=10_000)
    try:
        assert pool.combiner is None
    finally:
        await pool.close()


# --- the example app's writes --------------------------------------------------------------------


def manager_of(api, resource):
    return api.app[MANAGERS][resource]


async def test_creates_by_different_users_started_together_each_keep_their_owner_and_event(api):
    await api.as_user("alice", name="Alice")
    await api.as_user("bob", name="Bob")
    agents = manager_of(api, "agents")
    callers = ["alice", "bob"] * 3
    before = combined_writes()

    created = await asyncio.gather(
        *(agents.create({"name": f"{who} {n}"}, Identity(user_id=who)) for n, who in enumerate(callers))
    )

    assert combined_writes() - before == len(callers)
    assert [row["user_id"] for row in created] == callers
    owners = {row["id"]: row["user_id"] for row in created}
    rows = await api.sql("SELECT id, user_id, xmin::text AS tx FROM agents")
    assert {row["id"]: row["user_id"] for row in rows} == owners
    assert len({row["tx"] for row in rows}) == 1
    events = await api.sql("SELECT record_id, actor FROM _engine_events WHERE resource = 'agents'")
    assert {e["record_id"]: e["actor"] for e in events} == {str(key): who for key, who in owners.items()}
    versions = await api.sql("SELECT record_id, actor, version FROM agents_history")
    assert {v["record_id"]: (v["actor"], v["version"]) for v in versions} == {
        key: (who, 1) for key, who in owners.items()
    }


async def test_updates_of_one_row_started_together_each_apply_and_keep_a_version(api):
    alice = await api.as_user("alice", name="Alice")
    agent = (await alice.post("/api/agents", json={"name": "first"})).json["data"]
    before = combined_writes()

    renamed = await asyncio.gather(
        *(
            manager_of(api, "agents").update(agent["id"], {"name": f"rename {n}"}, Identity(user_id="alice"))
            for n in range(4)
        )
    )

    assert combined_writes() - before == 4
    assert [row["name"] for row in renamed] == [f"rename {n}" for n in range(4)]
    assert (await alice.get(f"/api/agents/{agent['id']}")).json["data"]["name"] == "rename 3"
    versions = await api.sql("SELECT version FROM agents_history WHERE record_id = $1 ORDER BY version", agent["id"])
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5]


async def test_an_update_of_a_row_the_caller_may_not_see_is_a_404_for_that_caller_alone(api):
    alice = await api.as_user("alice", name="Alice")
    bob = await api.as_user("bob", name="Bob")
    mine = [(await alice.post("/api/agents", json={"name": f"a{n}"})).json["data"]["id"] for n in range(3)]
    bobs = (await bob.post("/api/agents", json={"name": "bob's"})).json["data"]["id"]
    agents = manager_of(api, "agents")
    before = combined_writes()

    results = await asyncio.gather(
        *(agents.update(key, {"name": "renamed"}, Identity(user_id="alice")) for key in [*mine, bobs]),
        return_exceptions=True,
    )

    assert [row["name"] for row in results[:3]] == ["renamed"] * 3
    assert isinstance(results[3], NotFound)
    assert combined_writes() - before == 4
    assert (await bob.get(f"/api/agents/{bobs}")).json["data"]["name"] == "bob's"


async def test_a_write_refused_by_the_database_is_a_4xx_for_its_request_alone(api):
    await api.as_admin()
    for who in ("ann", "ben", "cat"):
        await api.as_user(who, name=who.title())
    users = manager_of(api, "users")

    results = await asyncio.gather(
        users.update("ann", {"email": "ann@new.test"}, ADMIN),
        users.update("ben", {"email": "cat@example.test"}, ADMIN),  # Cat's: taken
        users.update("cat", {"name": "Cat"}, ADMIN),
        return_exceptions=True,
    )

    assert results[0]["email"] == "ann@new.test"
    assert isinstance(results[1], Conflict)
    assert results[2]["name"] == "Cat"
    emails = {row["id"]: row["email"] for row in await api.sql("SELECT id, email FROM users")}
    assert (emails["ann"], emails["ben"], emails["cat"]) == ("ann@new.test", "ben@example.test", "cat@example.test")


async def test_the_app_commits_writes_together_by_default(api):
    assert api.app[POOL].combiner is not None


class TestSwitchedOff:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_DB_COMBINE_WRITES": "false"}

    async def test_the_app_commits_each_write_alone(self, api):
        alice = await api.as_user("alice", name="Alice")

        await asyncio.gather(*(alice.post("/api/agents", json={"name": f"n{n}"}) for n in range(4)))

        assert api.app[POOL].combiner is None
        rows = await api.sql("SELECT xmin::text AS tx FROM agents")
        assert len({row["tx"] for row in rows}) == 4


class Reader:
    """A third-party plugin needing no transaction whose hooks read through the write's connection."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    @hookimpl
    def write_needs_transaction(self) -> bool:
        return False

    @hookimpl
    async def before_write(self, context, resource) -> None:
        if resource.name == "agents":
            self.seen.append(await context.conn.fetchval("SELECT true"))

    @hookimpl
    async def after_write(self, conn, resource) -> None:
        if resource.name == "agents":
            self.seen.append(await conn.fetchval("SELECT true"))


class TestAPluginHookUsingTheConnection:
    @pytest.fixture
    def reader(self):
        return Reader()

    @pytest.fixture
    def engine_plugins(self, reader):
        return [reader]

    async def test_its_hooks_get_the_writes_own_connection(self, api, reader):
        # Its writes still commit together, each holding its connection while it waits
        # (test_writers_holding_connections_commit_together_on_the_first_ones).
        alice = await api.as_user("alice", name="Alice")

        responses = await asyncio.gather(*(alice.post("/api/agents", json={"name": f"n{n}"}) for n in range(6)))

        assert [r.status for r in responses] == [201] * 6
        assert reader.seen == [True] * 12
        assert len(await api.sql("SELECT id FROM agents")) == 6
