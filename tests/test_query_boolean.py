"""Boolean filter groups: or=(...), and=(...), not=(...) over the ordinary field[op]=value filters.

They nest (up to a depth limit), take double-quoted values holding , ( ) ", compose with plain
filters, sort, cursors, fields and counts, and every mistake is a 400 pointing at the term.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from test_query_language import ITEMS

from engine.http.query_power import MAX_DEPTH


@pytest.fixture
def engine_spec_path():
    return str(Path(__file__).parent / "specs" / "catalog" / "resources.yaml")


@pytest.fixture
async def catalog(api):
    for item in ITEMS:
        created = await api.anonymous.post("/api/items", json=item)
        assert created.status == 201, created.text
    return api.anonymous


async def codes(client, query: str) -> list[int]:
    result = await client.get(f"/api/items?{query}")
    assert result.status == 200, result.text
    return [row["code"] for row in result.json["data"]]


def q(text: str) -> str:
    return quote(text, safe="=[]*,")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("or=(category=bath,size=large)", [2, 3]),
        ("or=(code[lt]=2,code[gt]=3)", [1, 4]),
        ("and=(category=kitchen,in_stock=true)", [3]),
        ("not=(category=kitchen)", [1, 2]),
        ("not=(category=kitchen,in_stock=true)", [1, 2, 4]),
        ("not=(note=bestseller)", [2, 3, 4]),  # like `ne`, a null field is not equal: kept
        ("or=(category=bath,and=(category=kitchen,in_stock=false))", [2, 4]),
        ("or=(note[is]=null,not=(code[gte]=2))", [1, 2, 3]),
        ("or=(title[ilike]=*MUG*,price[gt]=10)", [1, 3]),
    ],
)
async def test_groups_combine_filters_as_written(catalog, query, expected):
    assert await codes(catalog, f"{q(query)}&sort=code") == expected


async def test_a_group_is_anded_with_plain_filters(catalog):
    assert await codes(catalog, q("or=(category=bath,category=kitchen)") + "&in_stock=false&sort=code") == [2, 4]


async def test_two_groups_are_anded(catalog):
    query = q("or=(code=1,code=2,code=3)") + "&" + q("or=(code=3,code=4)")
    assert await codes(catalog, query) == [3]


async def test_a_quoted_value_may_hold_commas_and_parentheses(api):
    for code, title in ((1, "tea, green (loose)"), (2, "tea")):
        assert (await api.anonymous.post("/api/items", json={"code": code, "title": title})).status == 201
    assert await codes(api.anonymous, q('or=(title="tea, green (loose)",code=99)')) == [1]


async def test_a_quoted_value_may_hold_an_escaped_quote(api):
    assert (await api.anonymous.post("/api/items", json={"code": 1, "title": 'say "hi"'})).status == 201
    assert await codes(api.anonymous, q(r'or=(title="say \"hi\"",code=99)')) == [1]


async def test_in_inside_a_group_takes_a_quoted_list(catalog):
    assert await codes(catalog, q('or=(code[in]="1,2",size=large)') + "&sort=code") == [1, 2, 3]


async def test_groups_compose_with_sort_fields_and_count(catalog):
    result = await catalog.get(
        "/api/items?" + q("or=(category=kitchen,code=1)") + "&sort=-code&fields=code&count=exact"
    )
    assert result.json["data"] == [{"code": 4}, {"code": 3}, {"code": 1}]
    assert result.json["meta"]["total"] == 3


async def test_groups_keep_their_filter_across_cursor_pages(catalog):
    query = "/api/items?" + q("not=(code=2)") + "&sort=code&limit=2"
    first = await catalog.get(query)
    second = await catalog.get(query + "&cursor=" + first.json["meta"]["next_cursor"])
    assert [r["code"] for r in first.json["data"] + second.json["data"]] == [1, 3, 4]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("or=(nope=1)", "nope"),
        ("or=(code[like]=1)", "code[like]=1"),
        ("or=(code=x)", "code=x"),
        ("or=category=bath", "expected '('"),
        ("or=(category=bath", "expected ')'"),
        ("or=(category=bath))", "after the closing"),
        ("or=(category=bath,)", "field[op]=value"),
        ("or=(title=a(b))", "double quotes"),
        ('or=(title="open)', "not closed"),
        ("xor=(code=1)", "xor"),
        ("or=(code=1,xor=(code=2))", "the groups are or=(...), and=(...), not=(...)"),
    ],
)
async def test_a_mistake_is_a_400_pointing_at_the_term(catalog, expect_problem, query, says):
    problem = expect_problem(await catalog.get("/api/items?" + q(query)), 400)
    assert says in problem["detail"], problem["detail"]


async def test_an_error_names_the_character_where_the_term_starts(catalog, expect_problem):
    problem = expect_problem(await catalog.get("/api/items?" + q("or=(code=1,nope=2)")), 400)
    assert problem["parameter"] == "or" and "at character 9 of its value" in problem["detail"], problem["detail"]


async def test_nesting_deeper_than_the_limit_is_refused(catalog, expect_problem):
    text = "code=1"
    for _ in range(MAX_DEPTH + 1):
        text = f"or=({text})"
    problem = expect_problem(await catalog.get("/api/items?" + q(text)), 400)
    assert f"deeper than {MAX_DEPTH}" in problem["detail"]


async def test_nesting_up_to_the_limit_works(catalog):
    text = "code=1"
    for _ in range(MAX_DEPTH):
        text = f"or=({text})"
    assert await codes(catalog, q(text)) == [1]
