"""Concurrent reads of one statement shape are answered by one statement (engine/db/coalesce.py).

Reads gathered in one turn of the event loop (here: started together by `asyncio.gather`) go to
PostgreSQL as one statement; each caller still gets exactly the rows, the order and the errors its
own statement would give.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlglot import exp, parse_one
from team_helpers import create_agent, create_team, share_agent, team_with_roles

from engine.db import coalesce
from engine.db.pool import create_pool, one_connection
from engine.http.keys import MANAGERS, POOL
from engine.kernel.errors import NotFound
from engine.kernel.identity import Identity
from engine.resources.listing import ListQuery
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.queries import SortKey

TRANSACTION = "txid_current()"  # one statement, one transaction: equal ids prove the reads were combined


def statement(sql: str):
    """A compiled statement from SQL with named slots (`:name`), as the engine's builders make them."""
    expression = parse_one(sql, read="postgres")
    return compile_expression(expression.transform(_named))


def _named(node):
    if isinstance(node, exp.Placeholder) and node.this:
        return param(node.name)
    return node


@pytest.fixture
async def pool(engine_database_url):
    pool = await create_pool(
        engine_database_url, min_size=0, max_size=4, statement_timeout_ms=10_000, coalesce_reads=True
    )
    yield pool
    await pool.close()


async def test_reads_started_together_are_answered_by_one_statement(pool):
    doubled = statement(f"SELECT :n::int * 2 AS doubled, {TRANSACTION} AS tx")

    rows = await asyncio.gather(*(coalesce.fetchrow(pool, doubled, [n]) for n in range(10)))

    assert [row["doubled"] for row in rows] == [n * 2 for n in range(10)]
    assert len({row["tx"] for row in rows}) == 1


async def test_a_lone_read_runs_its_own_statement(pool):
    doubled = statement("SELECT :n::int * 2 AS doubled")

    assert (await coalesce.fetchrow(pool, doubled, [21]))["doubled"] == 42


async def test_each_caller_gets_its_own_rows_in_its_statements_order(pool):
    countdown = statement(
        f"SELECT g, {TRANSACTION} AS tx FROM generate_series(1, :top::int) AS g ORDER BY g DESC LIMIT :limit"
    )
    asked = [(5, 3), (2, 10), (0, 4), (7, 7)]

    answers = await asyncio.gather(
        *(coalesce.fetch(pool, countdown, countdown.args({"top": top, "limit": limit})) for top, limit in asked)
    )

    assert [[row["g"] for row in rows] for rows in answers] == [[5, 4, 3], [2, 1], [], [7, 6, 5, 4, 3, 2, 1]]
    assert len({row["tx"] for rows in answers for row in rows}) == 1


async def test_an_order_without_a_limit_is_kept_for_each_caller(pool):
    evens = statement("SELECT g FROM generate_series(1, :top::int) AS g WHERE g % 2 = 0 ORDER BY g DESC")

    answers = await asyncio.gather(*(coalesce.fetch(pool, evens, [top]) for top in (6, 9, 1)))

    assert [[row["g"] for row in rows] for rows in answers] == [[6, 4, 2], [8, 6, 4, 2], []]


async def test_callers_of_a_list_are_split_so_that_each_statement_returns_about_rows_per_statement(pool):
    # Twenty rows for each of 32 callers are work one backend does on one core: capped by the rows its
    # last statement returned, the shape's next callers are read by several statements at once.
    pool.coalescer.rows_per_statement = 12
    six_each = statement(f"SELECT :n::int AS n, g, {TRANSACTION} AS tx FROM generate_series(1, 6) AS g ORDER BY g")

    async def read_together() -> list[list[dict]]:
        return await asyncio.gather(*(coalesce.fetch(pool, six_each, [n]) for n in range(8)))

    first = await read_together()  # 48 rows: 12 rows are two callers' worth
    then = await read_together()

    assert len({row["tx"] for rows in first for row in rows}) == 1
    assert len({row["tx"] for rows in then for row in rows}) == 4
    assert [[(row["n"], row["g"]) for row in rows] for rows in then] == [
        [(n, g) for g in range(1, 7)] for n in range(8)
    ]


async def test_reads_of_a_row_each_stay_in_one_statement(pool):
    doubled = statement(f"SELECT :n::int * 2 AS doubled, {TRANSACTION} AS tx")

    await asyncio.gather(*(coalesce.fetchrow(pool, doubled, [n]) for n in range(40)))
    rows = await asyncio.gather(*(coalesce.fetchrow(pool, doubled, [n]) for n in range(40)))

    assert len({row["tx"] for row in rows}) == 1


async def test_a_value_every_caller_shares_is_bound_once(pool):
    scaled = statement(f"SELECT :n::int * :factor::int AS product, {TRANSACTION} AS tx")

    rows = await asyncio.gather(
        *(coalesce.fetchrow(pool, scaled, scaled.args({"n": n, "factor": 10})) for n in range(4))
    )

    assert [row["product"] for row in rows] == [0, 10, 20, 30]
    assert len({row["tx"] for row in rows}) == 1


async def test_callers_asking_the_same_question_get_rows_of_their_own(pool):
    same = statement(f"SELECT :n::int AS n, {TRANSACTION} AS tx")

    first, second = await asyncio.gather(*(coalesce.fetchrow(pool, same, [7]) for _ in range(2)))
    first["n"] = "changed by its caller"

    assert second["n"] == 7
    assert first["tx"] == second["tx"]


async def test_arrays_that_differ_between_callers_are_read_one_statement_each(pool):
    size = statement(f"SELECT cardinality(:items::int[]) AS n, {TRANSACTION} AS tx")

    rows = await asyncio.gather(*(coalesce.fetchrow(pool, size, [list(range(n))]) for n in (1, 3, 5)))

    assert [row["n"] for row in rows] == [1, 3, 5]
    assert len({row["tx"] for row in rows}) == 3


async def test_a_statement_not_written_by_the_engines_renderer_is_read_alone(pool):
    # Combining parses the statement's text again; text that does not read back the same is left alone.
    handwritten = Compiled("select $1::int as n, txid_current() as tx", ("n",))

    rows = await asyncio.gather(*(coalesce.fetchrow(pool, handwritten, [n]) for n in range(3)))

    assert [row["n"] for row in rows] == [0, 1, 2]
    assert len({row["tx"] for row in rows}) == 3


async def test_an_error_reaches_only_the_caller_whose_values_caused_it(pool):
    divided = statement("SELECT 60 / :by::int AS q")

    results = await asyncio.gather(
        *(coalesce.fetchrow(pool, divided, [by]) for by in (1, 0, 3)), return_exceptions=True
    )

    assert results[0]["q"] == 60
    assert isinstance(results[1], asyncpg.DivisionByZeroError)
    assert results[2]["q"] == 20


async def test_the_others_are_answered_when_the_first_caller_is_cancelled(pool):
    doubled = statement("SELECT :n::int * 2 AS doubled")
    reads = [asyncio.ensure_future(coalesce.fetchrow(pool, doubled, [n])) for n in range(4)]
    await asyncio.sleep(0)  # every read has started: the first leads and waits one turn for the others

    reads[0].cancel()
    rest = await asyncio.wait_for(asyncio.gather(*reads[1:]), 10)

    assert [row["doubled"] for row in rest] == [2, 4, 6]
    assert reads[0].cancelled()


async def test_a_waiting_caller_that_is_cancelled_leaves_the_others_their_rows(pool):
    doubled = statement("SELECT :n::int * 2 AS doubled, pg_sleep(0.05)::text AS slept")
    reads = [asyncio.ensure_future(coalesce.fetchrow(pool, doubled, [n])) for n in range(4)]
    await asyncio.sleep(0)

    reads[2].cancel()
    answered = await asyncio.wait_for(asyncio.gather(reads[0], reads[1], reads[3]), 10)

    assert [row["doubled"] for row in answered] == [0, 2, 6]


async def test_a_task_holding_a_connection_between_statements_never_waits_for_another(engine_database_url):
    # Two tasks hold the pool's two connections inside one_connection(); a third task's read leads.
    # Were the two to join it, it would wait for a free connection that they hold while waiting for it.
    pool = await create_pool(
        engine_database_url, min_size=0, max_size=2, statement_timeout_ms=10_000, coalesce_reads=True
    )
    doubled = statement("SELECT :n::int * 2 AS doubled")
    go = asyncio.Event()

    async def holding(n: int):
        async with one_connection():
            await pool.fetchval("SELECT 1")  # the block now holds one of the two connections
            await go.wait()
            return await coalesce.fetchrow(pool, doubled, [n])

    try:
        held = [asyncio.ensure_future(holding(n)) for n in (1, 2)]
        while pool.get_idle_size() or pool.get_size() < 2:  # noqa: ASYNC110 - both blocks hold a connection
            await asyncio.sleep(0.01)
        leading = asyncio.ensure_future(coalesce.fetchrow(pool, doubled, [0]))
        go.set()  # the two wake in the turn the leader waits in
        rows = await asyncio.wait_for(asyncio.gather(leading, *held), 10)
    finally:
        await pool.close()

    assert [row["doubled"] for row in rows] == [0, 2, 4]


async def test_a_pool_made_without_coalescing_runs_each_read_alone(engine_database_url):
    pool = await create_pool(engine_database_url, min_size=0, max_size=4, statement_timeout_ms=10_000)
    try:
        tx = statement(f"SELECT :n::int AS n, {TRANSACTION} AS tx")
        rows = await asyncio.gather(*(coalesce.fetchrow(pool, tx, [n]) for n in range(3)))
    finally:
        await pool.close()

    assert pool.coalescer is None
    assert len({row["tx"] for row in rows}) == 3


# --- the example app's statements ----------------------------------------------------------------


@pytest.fixture
async def agents(api):
    """Alice's and Bob's agents, and the resource manager of agents."""
    alice = await api.as_user("alice", name="Alice")
    bob = await api.as_user("bob", name="Bob")
    mine = {}
    for who, client in (("alice", alice), ("bob", bob)):
        mine[who] = [
            (await client.post("/api/agents", json={"name": f"{who} {n}", "system_prompt": f"{who}'s"})).json["data"]
            for n in range(3)
        ]
    return mine


def combined_reads() -> float:
    return REGISTRY.get_sample_value("engine_db_combined_reads_total") or 0.0


def manager_of(api, resource):
    return api.app[MANAGERS][resource]


async def test_reads_by_id_started_together_each_see_what_their_caller_may(api, agents):
    manager = manager_of(api, "agents")
    asked = [(agent, "alice") for agent in agents["alice"]] + [(agent, "bob") for agent in agents["bob"]]
    asked.append((agents["alice"][0], "bob"))  # not Bob's: a 404 for him alone
    before = combined_reads()

    results = await asyncio.gather(
        *(manager.get(agent["id"], Identity(user_id=who)) for agent, who in asked), return_exceptions=True
    )

    for (agent, _), found in zip(asked[:-1], results[:-1], strict=True):
        assert found["id"] == agent["id"]
        assert found["system_prompt"] == agent["system_prompt"]
    assert isinstance(results[-1], NotFound)
    assert combined_reads() - before == len(asked)


async def test_lists_started_together_each_get_their_callers_page(api, agents):
    manager = manager_of(api, "agents")
    newest_first = ListQuery(sort=(SortKey("created_at", True), SortKey("id", True)), limit=2)

    before = combined_reads()

    (alices, _), (bobs, _) = await asyncio.gather(
        manager.list(newest_first, Identity(user_id="alice")), manager.list(newest_first, Identity(user_id="bob"))
    )

    assert [row["id"] for row in alices] == [a["id"] for a in reversed(agents["alice"])][:2]
    assert [row["id"] for row in bobs] == [a["id"] for a in reversed(agents["bob"])][:2]
    assert combined_reads() - before == 2


async def test_the_app_combines_reads_by_default(api):
    assert api.app[POOL].coalescer is not None


class TestSwitchedOff:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_DB_COALESCE_READS": "false"}

    async def test_the_app_runs_each_read_alone(self, api):
        assert api.app[POOL].coalescer is None


async def test_team_reads_with_includes_started_together_each_see_what_their_caller_may(api):
    team = await team_with_roles(api)  # alice owns it, bob is its admin, carol a member; dave is not in it
    agent = await create_agent(team.alice, "Shared", system_prompt="alice's secret prompt")
    await share_agent(team.alice, team.id, agent)
    daves_team = await create_team(team.dave, "Dave's")
    wanted = "?include=members,agents"

    for _ in range(5):  # the reads of a round usually meet in one statement (bench/RESULTS.md); each must be right
        alice, bob, carol, dave, daves = await asyncio.gather(
            team.alice.get(team.url + wanted),
            team.bob.get(team.url + wanted),
            team.carol.get(team.url + wanted),
            team.dave.get(team.url + wanted),
            team.dave.get(f"/api/teams/{daves_team}{wanted}"),
        )

        assert dave.status == 404
        assert daves.json["data"]["name"] == "Dave's"
        assert [m["user_id"] for m in daves.json["data"]["members"]] == ["dave"]
        for seen in (alice, bob, carol):
            assert seen.json["data"]["id"] == team.id
            assert sorted(m["user_id"] for m in seen.json["data"]["members"]) == ["alice", "bob", "carol"]
        prompts = [seen.json["data"]["agents"][0]["agent"].get("system_prompt") for seen in (alice, bob, carol)]
        assert prompts == ["alice's secret prompt", "alice's secret prompt", None]
