"""Grouped aggregates: group_by=<fields>&aggregate=count,sum:f,avg:f,min:f,max:f on a list.

Only declared fields (resources.yaml `aggregates:`), only rows the caller may read, only fields
the caller may read; a cost guard stops what would run away. Spec: tests/specs/query_power.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.db.pool import connect


@pytest.fixture
def engine_spec_path():
    return str(Path(__file__).parent / "specs" / "query_power" / "resources.yaml")


NOTES = [
    {"title": "a", "kind": "idea", "score": 3, "rating": 1.5, "tag": "x", "shared": True},
    {"title": "b", "kind": "idea", "score": 5, "rating": 2.5, "tag": "y"},
    {"title": "c", "kind": "todo", "score": 10, "tag": "x", "shared": True},
    {"title": "d", "score": 1},
]


@pytest.fixture
async def alice(api):
    client = await api.as_user("alice")
    for note in NOTES:
        created = await client.post("/api/notes", json=note)
        assert created.status == 201, created.text
    return client


async def groups(client, query: str) -> list[dict]:
    result = await client.get(f"/api/notes?{query}")
    assert result.status == 200, result.text
    return result.json["data"]


async def test_group_by_counts_rows_per_value(alice):
    assert await groups(alice, "group_by=kind") == [
        {"kind": "idea", "count": 2},
        {"kind": "todo", "count": 1},
        {"kind": None, "count": 1},
    ]


async def test_aggregates_sum_avg_min_max_per_group(alice):
    data = await groups(alice, "group_by=kind&aggregate=count,sum:score,avg:rating,min:score,max:title")
    assert data[0] == {
        "kind": "idea",
        "count": 2,
        "sum_score": 8,
        "avg_rating": 2.0,
        "min_score": 3,
        "max_title": "b",
    }


async def test_aggregate_without_group_by_is_one_row_over_all_readable_rows(alice):
    assert await groups(alice, "aggregate=count,sum:score") == [{"count": 4, "sum_score": 19}]


async def test_aggregates_come_after_filters(alice):
    assert await groups(alice, "group_by=kind&score[gte]=5") == [
        {"kind": "idea", "count": 1},
        {"kind": "todo", "count": 1},
    ]


async def test_aggregates_compose_with_boolean_groups(alice):
    assert await groups(alice, "aggregate=count&or=(kind=todo,score=1)") == [{"count": 2}]


async def test_aggregates_count_only_rows_the_caller_may_read(api, alice):
    bob = await api.as_user("bob")
    await bob.post("/api/notes", json={"title": "bob's", "kind": "log"})
    assert await groups(bob, "group_by=kind") == [
        {"kind": "idea", "count": 1},
        {"kind": "log", "count": 1},
        {"kind": "todo", "count": 1},
    ]


async def test_grouping_by_a_field_the_caller_may_not_read_is_a_400_naming_it(api, alice, expect_problem):
    bob = await api.as_user("bob")
    problem = expect_problem(await bob.get("/api/notes?group_by=tag"), 400)
    assert "'tag'" in problem["detail"] and problem["parameter"] == "group_by"


async def test_filtering_an_aggregate_by_a_field_the_caller_may_not_read_is_a_400(api, alice, expect_problem):
    bob = await api.as_user("bob")
    problem = expect_problem(await bob.get("/api/notes?group_by=kind&tag=x"), 400)
    assert "'tag'" in problem["detail"]


async def test_even_the_owner_of_every_row_may_not_group_by_a_field_with_a_read_rule(alice):
    # alice may read `tag` on her own rows, yet the rule is per row: grouping by it is refused for
    # everyone but admins, so the answer never depends on which rows are whose.
    result = await alice.get("/api/notes?group_by=tag")
    assert result.status == 400


async def test_admin_groups_by_a_ruled_field(api, alice):
    admin = await api.as_admin()
    assert await groups(admin, "group_by=tag&tag[is]=not_null") == [{"tag": "x", "count": 2}, {"tag": "y", "count": 1}]


async def test_created_at_groups_by_day_in_utc(api, alice):
    await api.sql("UPDATE notes SET created_at = '2026-03-01T23:30:00+00' WHERE title IN ('a', 'b')")
    await api.sql("UPDATE notes SET created_at = '2026-03-02T00:30:00+00' WHERE title IN ('c', 'd')")
    data = await groups(alice, "group_by=created_at:day")
    assert [(row["created_at"][:10], row["count"]) for row in data] == [("2026-03-01", 2), ("2026-03-02", 2)]


async def test_created_at_groups_by_week_starting_on_monday_in_utc(api, alice):
    await api.sql("UPDATE notes SET created_at = '2026-03-01T23:30:00+00' WHERE title IN ('a', 'b')")  # a Sunday
    await api.sql("UPDATE notes SET created_at = '2026-03-02T00:30:00+00' WHERE title IN ('c', 'd')")  # a Monday
    data = await groups(alice, "group_by=created_at:week")
    assert [(row["created_at"][:10], row["count"]) for row in data] == [("2026-02-23", 2), ("2026-03-02", 2)]


async def test_created_at_groups_by_month(api, alice):
    data = await groups(alice, "group_by=created_at:month,kind&kind=idea")
    assert len(data) == 1 and data[0]["count"] == 2 and data[0]["created_at"][8:10] == "01"


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ("group_by=title", "group_by", "'title'"),
        ("group_by=nope", "group_by", "'nope'"),
        ("group_by=kind:day", "group_by", "date-time"),
        ("group_by=created_at:year", "group_by", "'created_at:year': created_at groups by day, week, month"),
        ("group_by=created_at:", "group_by", "'created_at:': created_at groups by day, week, month"),
        ("group_by=kind,kind", "group_by", "twice"),
        ("aggregate=sum:kind", "aggregate", "'kind'"),
        ("aggregate=sum:title", "aggregate", "sum does not apply"),
        ("aggregate=median:score", "aggregate", "median"),
        ("aggregate=count:score", "aggregate", "count:score"),
        ("aggregate=count:", "aggregate", "'count:'"),
        ("group_by=kind&sort=kind", "sort", "aggregates"),
        ("group_by=kind&cursor=abc", "cursor", "aggregates"),
        ("group_by=kind&count=exact", "count", "aggregates"),
        ("group_by=kind&limit=5", "limit", "aggregates"),
    ],
)
async def test_anything_not_declared_or_not_applicable_is_a_400_naming_it(
    alice, expect_problem, query, parameter, says
):
    problem = expect_problem(await alice.get(f"/api/notes?{query}"), 400)
    assert problem["parameter"] == parameter and says in problem["detail"], problem


class TestCostGuard:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_AGGREGATE_MAX_GROUPS": "2", "ENGINE_AGGREGATE_TIMEOUT": "0.2"}

    async def test_more_groups_than_the_limit_is_a_400_asking_for_filters(self, alice, expect_problem):
        problem = expect_problem(await alice.get("/api/notes?group_by=kind"), 400)
        assert "more than 2 groups" in problem["detail"]

    async def test_an_aggregate_past_its_statement_deadline_is_a_503_saying_so(self, api, alice, expect_problem):
        conn = await connect(api.database_url, schema=api.schema)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")  # the aggregate must wait
                problem = expect_problem(await alice.get("/api/notes?aggregate=count"), 503)
        finally:
            await conn.close()
        assert "aggregate took longer than 200 ms" in problem["detail"]
