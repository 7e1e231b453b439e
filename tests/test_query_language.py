"""The list query language: ?field=v, ?field[op]=v, sort, limit, fields. Anything unknown is a 400 naming it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

SUPPLIER_A = "0b7e4f6e-0000-4000-8000-00000000000a"
SUPPLIER_B = "0b7e4f6e-0000-4000-8000-00000000000b"

ITEMS = [
    {
        "code": 1,
        "title": "100% cotton shirt",
        "category": "clothes",
        "price": 19.5,
        "in_stock": True,
        "released_at": "2024-01-10T09:00:00Z",
        "supplier_id": SUPPLIER_A,
        "size": "medium",
        "note": "bestseller",
        "attributes": {"color": "red", "fabric": {"cotton": 100}},
        "tags": ["sale", "summer"],
    },
    {
        "code": 2,
        "title": "100 cotton buds",
        "category": "bath",
        "price": 2.25,
        "in_stock": False,
        "released_at": "2024-03-01T00:00:00Z",
        "supplier_id": SUPPLIER_B,
        "size": "small",
        "note": None,
        "attributes": {"color": "white"},
        "tags": ["summer"],
    },
    {
        "code": 3,
        "title": "snake_case mug",
        "category": "kitchen",
        "price": 8.0,
        "in_stock": True,
        "released_at": "2023-12-31T23:59:59+02:00",
        "supplier_id": SUPPLIER_A,
        "size": "large",
        "attributes": {"color": "red"},
        "tags": [],
    },
    {
        "code": 4,
        "title": "Snake-case Poster",
        "category": "kitchen",
        "in_stock": False,
        "note": "back\\slash",
        "attributes": {},
    },
]


@pytest.fixture
def engine_spec_path():
    return str(Path(__file__).parent / "specs" / "catalog" / "resources.yaml")


@pytest.fixture
async def catalog(api):
    """The anonymous client over a catalog holding ITEMS."""
    for item in ITEMS:
        created = await api.anonymous.post("/api/items", json=item)
        assert created.status == 201, created.text
    return api.anonymous


async def codes(client, query: str) -> list[int]:
    result = await client.get(f"/api/items?{query}")
    assert result.status == 200, result.text
    return [row["code"] for row in result.json["data"]]


# --- operators ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=kitchen", [3, 4]),
        ("category[eq]=kitchen", [3, 4]),
        ("code=2", [2]),
        ("price=8", [3]),
        ("in_stock=true", [1, 3]),
        (f"supplier_id={SUPPLIER_B}", [2]),
        ("size=large", [3]),
        ("released_at=2024-03-01T00:00:00Z", [2]),
        ("released_at=2023-12-31T21:59:59Z", [3]),
    ],
)
async def test_equality_filters_by_the_parsed_value(catalog, query, expected):
    assert await codes(catalog, f"{query}&sort=code") == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category[ne]=kitchen", [1, 2]),
        ("in_stock[ne]=true", [2, 4]),
        ("note[ne]=bestseller", [2, 3, 4]),
    ],
)
async def test_ne_keeps_rows_where_the_field_is_null(catalog, query, expected):
    assert await codes(catalog, f"{query}&sort=code") == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code[lt]=2", [1]),
        ("code[lte]=2", [1, 2]),
        ("code[gt]=2", [3, 4]),
        ("code[gte]=2", [2, 3, 4]),
        ("price[lt]=8", [2]),
        ("price[gte]=8.0", [1, 3]),
        ("released_at[lt]=2024-01-01T00:00:00Z", [3]),
        ("released_at[gte]=2024-01-10T09:00:00Z", [1, 2]),
        ("title[lt]=2", [1, 2]),
    ],
)
async def test_comparison_operators(catalog, query, expected):
    assert await codes(catalog, f"{query}&sort=code") == expected


async def test_two_filters_on_one_field_combine(catalog):
    assert await codes(catalog, "code[gt]=1&code[lt]=4&sort=code") == [2, 3]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code[in]=1,3,99", [1, 3]),
        ("category[in]=bath,kitchen", [2, 3, 4]),
        (f"supplier_id[in]={SUPPLIER_B},{SUPPLIER_A}", [1, 2, 3]),
        ("size[in]=small", [2]),
    ],
)
async def test_in_takes_a_comma_separated_list(catalog, query, expected):
    assert await codes(catalog, f"{query}&sort=code") == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("100*", [1, 2]),
        ("*mug", [3]),
        ("*cotton*", [1, 2]),
        ("100%*", [1]),
        ("snake_case*", [3]),
        ("snake*", [3]),
        ("*case*", [3, 4]),
    ],
)
async def test_like_uses_star_as_the_wildcard_and_matches_percent_and_underscore_literally(catalog, pattern, expected):
    assert await codes(catalog, f"title[like]={quote(pattern)}&sort=code") == expected


async def test_like_matches_a_backslash_literally(catalog):
    pattern = quote("back\\*")
    assert await codes(catalog, f"note[like]={pattern}") == [4]


@pytest.mark.parametrize(("pattern", "expected"), [("snake*", [3, 4]), ("*POSTER", [4]), ("snake_*", [3])])
async def test_ilike_ignores_case(catalog, pattern, expected):
    assert await codes(catalog, f"title[ilike]={quote(pattern)}&sort=code") == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("note[is]=null", [2, 3]),
        ("note[is]=not_null", [1, 4]),
        ("price[is]=null", [4]),
        ("supplier_id[is]=null", [4]),
        ("tags[is]=null", [4]),
        ("in_stock[is]=true", [1, 3]),
        ("in_stock[is]=false", [2, 4]),
    ],
)
async def test_is_tests_null_and_booleans(catalog, query, expected):
    assert await codes(catalog, f"{query}&sort=code") == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('{"color": "red"}', [1, 3]),
        ('{"fabric": {"cotton": 100}}', [1]),
        ("{}", [1, 2, 3, 4]),
    ],
)
async def test_contains_matches_jsonb_objects(catalog, document, expected):
    assert await codes(catalog, f"attributes[contains]={quote(document)}&sort=code") == expected


async def test_contains_matches_jsonb_array_elements(catalog):
    summer, both = quote('["summer"]'), quote('["sale", "summer"]')
    assert await codes(catalog, f"tags[contains]={summer}&sort=code") == [1, 2]
    assert await codes(catalog, f"tags[contains]={both}&sort=code") == [1]


async def test_filters_sort_and_fields_compose(catalog):
    result = await catalog.get("/api/items?in_stock=true&price[gt]=1&sort=-price&fields=title,price")
    assert result.json["data"] == [
        {"title": "100% cotton shirt", "price": 19.5},
        {"title": "snake_case mug", "price": 8.0},
    ]


# --- 400s naming what is wrong ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter", "named"),
    [
        ("colour=red", "colour", "'colour'"),
        ("colour[eq]=red", "colour[eq]", "'colour'"),
        ("code[near]=1", "code[near]", "'near'"),
        ("code[like]=1*", "code[like]", "'like'"),
        ("in_stock[lt]=true", "in_stock[lt]", "'lt'"),
        ("attributes=%7B%7D", "attributes", "'eq'"),
        ("supplier_id[gt]=" + SUPPLIER_A, "supplier_id[gt]", "'gt'"),
        ("page=2", "page", "'page'"),
        ("Code=1", "Code", "'Code'"),
        ("名前=1", "名前", "'名前'"),
    ],
)
async def test_unknown_field_operator_or_parameter_is_400_naming_it(catalog, expect_problem, query, parameter, named):
    problem = expect_problem(await catalog.get(f"/api/items?{query}"), 400)
    assert problem["parameter"] == parameter
    assert named in problem["detail"]


async def test_an_unknown_parameter_is_answered_with_the_parameters_a_list_takes(catalog, expect_problem):
    detail = expect_problem(await catalog.get("/api/items?page=2"), 400)["detail"]
    assert detail.startswith("unknown query parameter 'page': not a field of items nor a list parameter")
    assert (
        "nor a list parameter (sort, limit, cursor, fields, include, count, or, and, not, group_by, aggregate, q)"
        in detail
    )


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("code=abc", "code"),
        ("code=1.5", "code"),
        ("code=99999999999999999999", "code"),
        ("code[in]=1,x", "code[in]"),
        ("price=cheap", "price"),
        ("price=NaN", "price"),
        ("price=1e400", "price"),
        ("in_stock=yes", "in_stock"),
        ("released_at=yesterday", "released_at"),
        ("released_at=2024-01-01T00:00:00", "released_at"),
        ("released_at[gt]=9999-12-31T23:59:59-23:59", "released_at[gt]"),
        ("supplier_id=nope", "supplier_id"),
        ("note[is]=maybe", "note[is]"),
        ("note[is]=true", "note[is]"),
        ("attributes[contains]=%7Bnot-json", "attributes[contains]"),
        ("attributes[contains]=" + quote('{"a": "\\u0000"}'), "attributes[contains]"),
        ("attributes[contains]=" + quote('{"\\u0000": 1}'), "attributes[contains]"),
        ("attributes[contains]=" + quote('"\\ud800"'), "attributes[contains]"),
        ("title=a%00b", "title"),
        ("title[like]=a%00*", "title[like]"),
    ],
)
async def test_value_that_does_not_parse_is_400_naming_the_parameter(catalog, expect_problem, query, parameter):
    problem = expect_problem(await catalog.get(f"/api/items?{query}"), 400)
    assert problem["parameter"] == parameter
    assert parameter in problem["detail"]


@pytest.mark.parametrize("query", ["size=huge", "size[ne]=huge", "size[in]=small,huge", "size[gt]=huge"])
async def test_a_comparison_with_an_enum_field_outside_its_values_is_400_listing_them(catalog, expect_problem, query):
    problem = expect_problem(await catalog.get(f"/api/items?{query}"), 400)
    assert problem["parameter"] == query.split("=")[0]
    assert "one of small, medium, large" in problem["detail"]


async def test_an_enum_value_inside_a_boolean_group_is_checked_too(catalog, expect_problem):
    problem = expect_problem(await catalog.get("/api/items?or=(size=small,size=huge)"), 400)
    assert "one of small, medium, large" in problem["detail"]


@pytest.mark.parametrize(
    ("query", "hint"),
    [
        ("size=eq.small", "size[eq]=small"),
        ("size=neq.small", "size[ne]=small"),
        ("size=in.(small,large)", "size[in]=small,large"),
        ("released_at=gt.2024-01-01T00:00:00Z", "released_at[gt]=2024-01-01T00:00:00Z"),
    ],
)
async def test_an_operator_written_in_the_value_is_400_showing_where_it_goes(catalog, expect_problem, query, hint):
    """PostgREST's `field=op.value` spelling: the answer shows the engine's `field[op]=value`."""
    problem = expect_problem(await catalog.get(f"/api/items?{query}"), 400)
    assert problem["detail"].endswith(f"; operators go in brackets: {hint}")


# --- limit ---------------------------------------------------------------------------------------------


async def test_limit_defaults_to_20(api, catalog):
    for code in range(100, 121):
        await api.anonymous.post("/api/items", json={"code": code, "title": f"Bulk {code}"})
    result = await catalog.get("/api/items")
    assert len(result.json["data"]) == 20
    assert result.json["meta"]["limit"] == 20 and result.json["meta"]["next_cursor"]


async def test_limit_takes_any_value_up_to_100(catalog):
    result = await catalog.get("/api/items?limit=100")
    assert result.json["meta"] == {"limit": 100, "next_cursor": None}
    assert len(result.json["data"]) == len(ITEMS)


@pytest.mark.parametrize("limit", ["101", "0", "-1", "ten", "1.5", ""])
async def test_limit_outside_1_to_100_is_400(catalog, expect_problem, limit):
    problem = expect_problem(await catalog.get(f"/api/items?limit={limit}"), 400)
    assert problem["parameter"] == "limit" and "100" in problem["detail"]


async def test_repeated_limit_is_400(catalog, expect_problem):
    expect_problem(await catalog.get("/api/items?limit=1&limit=2"), 400)


# --- fields --------------------------------------------------------------------------------------------


async def test_fields_projects_the_columns(catalog):
    result = await catalog.get("/api/items?fields=code,title&sort=code&limit=2")
    assert result.json["data"] == [{"code": 1, "title": "100% cotton shirt"}, {"code": 2, "title": "100 cotton buds"}]


async def test_fields_applies_to_a_single_row(catalog):
    row = (await catalog.get("/api/items?code=3")).json["data"][0]
    result = await catalog.get(f"/api/items/{row['id']}?fields=title,created_at")
    assert result.json["data"] == {"title": "snake_case mug", "created_at": row["created_at"]}


@pytest.mark.parametrize("fields", ["code,colour", "code,,title", ""])
async def test_fields_with_an_unknown_or_empty_name_is_400(catalog, expect_problem, fields):
    assert expect_problem(await catalog.get(f"/api/items?fields={fields}"), 400)["parameter"] == "fields"


async def test_single_row_refuses_list_parameters(catalog, expect_problem):
    row = (await catalog.get("/api/items?code=3")).json["data"][0]
    problem = expect_problem(await catalog.get(f"/api/items/{row['id']}?sort=code"), 400)
    assert problem["parameter"] == "sort"


# --- sort ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("code", [1, 2, 3, 4]),
        ("-code", [4, 3, 2, 1]),
        ("category,-code", [2, 1, 4, 3]),
        ("-category,code", [3, 4, 1, 2]),
        ("in_stock,-price", [4, 2, 1, 3]),
        ("price", [2, 3, 1, 4]),
        ("-price", [4, 1, 3, 2]),
        ("-released_at,code", [4, 2, 1, 3]),
    ],
)
async def test_sort_by_several_keys_with_minus_for_descending(catalog, sort, expected):
    assert await codes(catalog, f"sort={sort}") == expected


@pytest.mark.parametrize(
    ("sort", "named"),
    [("colour", "'colour'"), ("code,-code", "'code'"), ("attributes", "'attributes'"), ("code,", "empty")],
)
async def test_bad_sort_is_400_naming_the_key(catalog, expect_problem, sort, named):
    problem = expect_problem(await catalog.get(f"/api/items?sort={sort}"), 400)
    assert problem["parameter"] == "sort" and named in problem["detail"]
