"""Keyset paging: walking the pages of any sort returns every row exactly once, in the order of one big page."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest

ROWS = 23
LINK_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
def engine_spec_path():
    return str(Path(__file__).parent / "specs" / "catalog" / "resources.yaml")


@pytest.fixture
async def catalog(api):
    """23 items with unique codes and titles, duplicate categories, and NULLs in note, price and released_at.

    Inserted in one statement, so every row has the same created_at: ties are the normal case."""
    await api.sql(
        """
        insert into items (code, title, category, note, price, in_stock, released_at, supplier_id)
        select g,
               'Item ' || lpad(g::text, 2, '0'),
               (array['a', 'b', 'c'])[g % 3 + 1],
               case when g % 3 = 0 then null else (array['x', 'y'])[g % 2 + 1] end,
               case when g % 4 = 0 then null else (g % 5) * 1.5 end,
               g % 2 = 0,
               case when g % 5 = 0 then null else timestamptz '2024-01-01' + (g % 7) * interval '1 day' end,
               case when g % 6 = 0 then null else gen_random_uuid() end
        from generate_series(1, $1) g
        """,
        ROWS,
    )
    return api.anonymous


async def walk(client, query: str, limit: int) -> list[dict]:
    """Every row of `query`, page by page through meta.next_cursor."""
    rows: list[dict] = []
    cursor = None
    for _ in range(ROWS + 2):
        url = f"/api/items?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = await client.get(url)
        assert page.status == 200, page.text
        assert len(page.json["data"]) <= limit
        rows += page.json["data"]
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError(f"paging {query} did not end")


async def one_page(client, query: str) -> list[dict]:
    page = await client.get(f"/api/items?{query}&limit=100")
    assert page.status == 200, page.text
    assert page.json["meta"]["next_cursor"] is None
    return page.json["data"]


def expected_order(rows: list[dict], sort: str) -> list[dict]:
    """What ORDER BY promises: the keys in turn, NULLs last ascending and first descending, then the
    primary key in the direction of the last key (so ties are broken in a stable, total order)."""
    keys = sort.split(",") if sort else ["id"]
    if "id" not in [k.lstrip("-") for k in keys]:
        keys.append("-id" if keys[-1].startswith("-") else "id")
    for key in reversed(keys):
        name, descending = key.lstrip("-"), key.startswith("-")
        present = sorted((r for r in rows if r[name] is not None), key=lambda r: r[name], reverse=descending)
        missing = [r for r in rows if r[name] is None]
        rows = missing + present if descending else present + missing
    return rows


SORTS = [
    "",
    "code",
    "-code",
    "title",
    "category",
    "-category",
    "note",
    "-note",
    "price",
    "-price",
    "released_at",
    "-released_at",
    "supplier_id",
    "-supplier_id",
    "in_stock",
    "-created_at",
    "id",
    "-id",
    "category,-code",
    "-category,note",
    "note,-price",
    "-note,price,-code",
    "-in_stock,released_at,-category",
    "price,-released_at",
]


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: s or "default")
@pytest.mark.parametrize("limit", [4, 7])
async def test_pages_return_every_row_once_in_sort_order(catalog, sort, limit):
    query = f"sort={sort}" if sort else ""
    single = await one_page(catalog, query)
    assert len(single) == ROWS
    assert single == expected_order(single, sort)
    assert await walk(catalog, query, limit) == single


@pytest.mark.parametrize("sort", ["code", "-note", "-price,note"])
async def test_pages_of_one_row_each_return_every_row_once(catalog, sort):
    single = await one_page(catalog, f"sort={sort}")
    assert await walk(catalog, f"sort={sort}", 1) == single


@pytest.mark.parametrize(
    "query",
    [
        "in_stock=true&sort=note",
        "category[in]=a,b&sort=-price,code",
        "note[is]=not_null&sort=-note,released_at",
        "price[gte]=1.5&sort=price",
        "title[like]=Item 1*&sort=-category",
    ],
)
async def test_paging_composes_with_filters(catalog, query):
    single = await one_page(catalog, query)
    assert 0 < len(single) < ROWS
    assert await walk(catalog, query, 3) == single


@pytest.mark.parametrize(
    "query",
    ["sort=-price&fields=title", "sort=note,-code&fields=title,category", "sort=-released_at&fields=code"],
)
async def test_paging_works_when_fields_leave_out_the_sort_keys(catalog, query):
    single = await one_page(catalog, query)
    assert len(single) == ROWS
    wanted = query.split("fields=")[1].split(",")
    assert all(list(row) == wanted for row in single)
    assert await walk(catalog, query, 5) == single


async def test_last_page_has_no_next_cursor(catalog):
    page = await catalog.get(f"/api/items?sort=code&limit={ROWS}")
    assert page.json["meta"]["next_cursor"] is None
    assert "Link" not in page.headers


async def test_link_header_points_at_the_next_page(catalog):
    single = await one_page(catalog, "sort=-price")
    rows, url = [], "/api/items?sort=-price&limit=6"
    while url:
        page = await catalog.get(url)
        rows += page.json["data"]
        link = page.headers.get("Link")
        url = LINK_NEXT.match(link).group(1) if link else None
        if url:
            assert "sort=-price" in url and "limit=6" in url
            assert page.json["meta"]["next_cursor"] in url
    assert rows == single


async def test_link_header_keeps_filters_and_fields(catalog):
    page = await catalog.get(f"/api/items?in_stock=true&fields=title&sort=code&limit=2&title[like]={quote('Item*')}")
    url = LINK_NEXT.match(page.headers["Link"]).group(1)
    following = await catalog.get(url)
    assert following.status == 200
    assert [r["title"] for r in following.json["data"]] == ["Item 06", "Item 08"]


@pytest.mark.parametrize("cursor_name", ["cursor", "curs%6Fr"], ids=["plain", "percent-encoded name"])
async def test_a_link_replaces_the_cursor_the_request_carried(catalog, cursor_name):
    first = await catalog.get("/api/items?sort=code&limit=2")
    second = await catalog.get(f"/api/items?sort=code&limit=2&{cursor_name}={first.json['meta']['next_cursor']}")
    url = LINK_NEXT.match(second.headers["Link"]).group(1)

    assert url.count("cursor=") == 1 and url.endswith(f"cursor={second.json['meta']['next_cursor']}")
    third = await catalog.get(url)
    assert third.json["data"][0]["code"] > second.json["data"][-1]["code"]


async def test_cursor_from_another_sort_is_400(catalog, expect_problem):
    cursor = (await catalog.get("/api/items?sort=code&limit=2")).json["meta"]["next_cursor"]
    problem = expect_problem(await catalog.get(f"/api/items?sort=-code&limit=2&cursor={cursor}"), 400)
    assert problem["parameter"] == "cursor" and "different sort" in problem["detail"]


def forged(signature: str, values: list) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([signature, values])).rstrip(b"=").decode()


UUID = "0b7e4f6e-0000-4000-8000-00000000000a"


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("code", "garbage"),
        ("code", "%25%25%25"),
        ("code", base64.urlsafe_b64encode(b"not json").decode()),
        ("code", base64.urlsafe_b64encode(b'{"a": 1}').decode()),
        ("code", forged("code,id", [1])),
        ("code", forged("code,id", ["one", UUID])),
        ("code", forged("code,id", [True, UUID])),
        ("code", forged("code,id", [1.5, UUID])),
        ("title", forged("title,id", [5, UUID])),
        ("title", forged("title,id", ["a\x00b", UUID])),
        ("title", forged("title,id", [["nested"], UUID])),
        ("price", forged("price,id", ["cheap", UUID])),
        ("in_stock", forged("in_stock,id", ["yes", UUID])),
        ("released_at", forged("released_at,id", ["2024-13-01", UUID])),
        ("released_at", forged("released_at,id", ["9999-12-31T23:59:59-23:59", UUID])),
        ("code", forged("code,id", [1, "not-a-uuid"])),
    ],
)
async def test_garbage_or_forged_cursor_is_400(catalog, expect_problem, sort, cursor):
    problem = expect_problem(await catalog.get(f"/api/items?sort={sort}&cursor={cursor}"), 400)
    assert problem["parameter"] == "cursor"


async def test_a_repeated_list_query_gives_the_same_page_and_a_bad_one_is_refused_every_time(catalog, expect_problem):
    first = await catalog.get("/api/items?sort=code&limit=3&in_stock=true")
    again = await catalog.get("/api/items?sort=code&limit=3&in_stock=true")

    assert first.json == again.json
    for _ in range(2):
        expect_problem(await catalog.get("/api/items?sort=nope"), 400)
