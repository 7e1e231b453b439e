"""An included or listed row is byte for byte the row a read of it answers, on every column type.

Included rows travel from PostgreSQL as one JSON text per include (engine.sql.json_out: `json_array`
of `json_field`s; engine.features.relations: `_records`), where a read decodes its row with asyncpg;
these tests hold the paths to the same bytes on edge values: whole and negative-zero doubles, NaN and
the infinities, timestamps with and without microseconds and at infinity, escapes, big integers,
jsonb, and a row of more than 100 fields. Includes are covered the three ways they are read: joined
to a read, joined to a page, and several includes in one statement of their own (`Relations.together`,
where the include reads the row's own table). Pages and their cursors are held to the same values."""

from __future__ import annotations

import json

import pytest

OPEN = "{list: [anonymous], read: [anonymous], create: [anonymous], update: [anonymous], delete: [anonymous]}"
SPEC = f"""
version: 1
resources:
  kinds:
    schema: value.json
    permissions: {OPEN}
  wides:
    schema: wide.json
    permissions: {OPEN}
  things:
    schema: thing.json
    references:
      kind_id: {{resource: kinds, on_delete: cascade}}
      wide_id: {{resource: wides, on_delete: cascade}}
      parent_id: {{resource: things, on_delete: cascade}}
    permissions: {OPEN}
  boxes:
    schema: box.json
    relations:
      things: {{through: box_things, key: box_id, other: thing_id}}
    permissions: {OPEN}
  box_things:
    schema: box_thing.json
    unique: [[box_id, thing_id]]
    references:
      box_id: {{resource: boxes, on_delete: cascade}}
      thing_id: {{resource: things, on_delete: cascade}}
    permissions: {OPEN}
"""

VALUES = {  # a property of each column type the engine makes
    "label": {"type": ["string", "null"]},
    "count": {"type": ["integer", "null"]},
    "ratio": {"type": ["number", "null"]},
    "done": {"type": ["boolean", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "extra": {"type": ["object", "null"]},
    "tags": {"type": ["array", "null"]},
}
WIDE = {f"w{i}": {"type": "string", "default": f"w{i}"} for i in range(100)}  # a row of more than 100 fields
ID = {"id": {"type": "string", "format": "uuid", "readOnly": True}}
REF = {"type": ["string", "null"], "format": "uuid"}

# Each sample is a kind and a thing with these values (through the API), then `AFTER` (in SQL:
# values JSON cannot carry) applied to some of them.
SAMPLES = [
    {},
    {"label": "", "count": 0, "ratio": 0.0, "done": False, "at": "2026-12-05T21:00:00Z", "extra": {}, "tags": []},
    {"label": 'quote " backslash \\ \n\t \x01 é 😀 \u2028 </script>', "count": 2**63 - 1, "ratio": 5.0},
    {"count": -(2**63), "ratio": -0.0, "at": "2026-12-05T21:00:00.12+00:00", "extra": {"b": [1, 2.5, None], "a": 1.0}},
    {"ratio": 1e16, "at": "2026-12-05T21:00:00.000001Z", "tags": [{"z": 1, "a": "x"}, 1.5, True]},
    {"ratio": 1e-7, "at": "0999-01-01T00:00:00Z", "done": True},
    {"ratio": 0.1, "at": "2026-12-05T21:00:00.999999-05:00"},
    {"ratio": 12345678901234567.0},
    {"ratio": 5e-324},
    {"ratio": 1.7976931348623157e308},
    {"ratio": 100.0},
]
AFTER = [  # (sample index, SQL assignment)
    (7, "ratio = 'NaN'"),
    (8, "ratio = 'Infinity', at = 'infinity'"),
    (9, "ratio = '-Infinity', at = '-infinity'"),
]


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(
        write_spec(
            SPEC,
            {
                "value.json": schema_of({**ID, **VALUES}),
                "wide.json": schema_of({**ID, **VALUES, **WIDE}),
                "thing.json": schema_of({**ID, **VALUES, "kind_id": REF, "parent_id": REF, "wide_id": REF}),
                "box.json": schema_of({**ID, "name": {"type": "string"}}),
                "box_thing.json": schema_of(
                    {**ID, "box_id": {"type": "string", "format": "uuid"}, "thing_id": REF, **VALUES},
                    ["box_id", "thing_id"],
                ),
            },
        )
    )


def data_of(body: bytes) -> bytes:
    """The row of a read's body, `{"data":<row>}`, as its bytes."""
    assert body.startswith(b'{"data":') and body.endswith(b"}"), body[:80]
    return body[len(b'{"data":') : -1]


@pytest.fixture
async def samples(api):
    """Each sample as a kind, a thing of that kind (whose parent is the first thing) and a link of one
    box to the thing carrying the same values; returns (kind ids, thing ids, box id)."""
    client = api.anonymous
    kinds, things = [], []
    box = (await client.post("/api/boxes", json={"name": "b"})).json["data"]["id"]
    for values in SAMPLES:
        kind = await client.post("/api/kinds", json=values)
        assert kind.status == 201, kind.text
        parent = {"parent_id": things[0]} if things else {}
        thing = await client.post("/api/things", json={**values, "kind_id": kind.json["data"]["id"], **parent})
        assert thing.status == 201, thing.text
        kinds.append(kind.json["data"]["id"])
        things.append(thing.json["data"]["id"])
        link = await client.post(f"/api/boxes/{box}/things", json={"thing_id": things[-1], **values})
        assert link.status == 201, link.text
    for index, assignment in AFTER:
        for table in ("kinds", "things", "box_things"):
            key = "thing_id" if table == "box_things" else "id"
            ids = things if table != "kinds" else kinds
            await api.sql(f"update {table} set {assignment} where {key} = $1", ids[index])
    return kinds, things, box


async def read_bytes(client, path: str) -> bytes:
    got = await client.get(path)
    assert got.status == 200, got.text
    return data_of(got.body)


async def test_a_read_embeds_its_reference_with_the_bytes_of_reading_it(api, samples):
    kinds, things, _ = samples
    for kind, thing in zip(kinds, things, strict=True):
        embedded = await api.anonymous.get(f"/api/things/{thing}?include=kind")
        assert await read_bytes(api.anonymous, f"/api/kinds/{kind}") in embedded.body


async def test_a_page_embeds_each_reference_with_the_bytes_of_reading_it(api, samples):
    kinds, _, _ = samples
    page = await api.anonymous.get("/api/things?include=kind&limit=100")
    assert page.status == 200, page.text
    for kind in kinds:
        assert await read_bytes(api.anonymous, f"/api/kinds/{kind}") in page.body


async def test_includes_read_in_a_statement_of_their_own_keep_the_bytes_of_reading_them(api, samples):
    """`parent` reads the row's own table, so the rows and their includes are two statements, and
    `kind` and `parent` share the second one."""
    kinds, things, _ = samples
    for kind, thing in zip(kinds[1:], things[1:], strict=True):
        embedded = await api.anonymous.get(f"/api/things/{thing}?include=kind,parent")
        assert embedded.status == 200, embedded.text
        assert await read_bytes(api.anonymous, f"/api/kinds/{kind}") in embedded.body
        assert await read_bytes(api.anonymous, f"/api/things/{things[0]}") in embedded.body


async def test_a_relation_embeds_its_links_and_far_rows_with_the_bytes_of_reading_them(api, samples):
    _, things, box = samples
    embedded = await api.anonymous.get(f"/api/boxes/{box}?include=things")
    assert embedded.status == 200, embedded.text
    links = (await api.anonymous.get(f"/api/boxes/{box}/things?limit=100")).json["data"]
    assert len(links) == len(things)
    for link in links:
        assert await read_bytes(api.anonymous, f"/api/things/{link['thing_id']}") in embedded.body
        assert await read_bytes(api.anonymous, f"/api/box_things/{link['id']}") in embedded.body.replace(
            b',"thing":' + await read_bytes(api.anonymous, f"/api/things/{link['thing_id']}"), b""
        )


async def test_a_row_of_more_than_a_hundred_fields_embeds_with_the_bytes_of_reading_it(api, samples):
    """A row travels as one array per hundred fields (PostgreSQL's limit on a function's arguments)."""
    client = api.anonymous
    _, things, _ = samples
    wide = await client.post("/api/wides", json={"ratio": 5.0, "at": "2026-12-05T21:00:00Z", "w99": "last"})
    assert wide.status == 201, wide.text
    wide_id = wide.json["data"]["id"]
    assert (await client.patch(f"/api/things/{things[1]}", json={"wide_id": wide_id})).status == 200
    embedded = await client.get(f"/api/things/{things[1]}?include=wide")
    assert embedded.status == 200, embedded.text
    direct = await read_bytes(client, f"/api/wides/{wide_id}")
    assert len([name for name in json.loads(direct) if name.startswith("w")]) == 100
    assert direct in embedded.body


async def test_a_page_lists_each_row_with_the_bytes_of_reading_it(api, samples):
    kinds, _, _ = samples
    page = await api.anonymous.get("/api/kinds?limit=100")
    assert page.status == 200, page.text
    assert len(page.json["data"]) == len(kinds)
    for kind in kinds:
        assert await read_bytes(api.anonymous, f"/api/kinds/{kind}") in page.body


async def test_a_page_of_rows_of_more_than_a_hundred_fields_lists_them_with_the_bytes_of_reading_them(api):
    client = api.anonymous
    wides = [(await client.post("/api/wides", json={"w0": str(i), "w99": "last"})).json["data"]["id"] for i in range(3)]
    page = await client.get("/api/wides?fields=w99,id,w0&sort=w0")
    assert [(r["w0"], r["w99"]) for r in page.json["data"]] == [("0", "last"), ("1", "last"), ("2", "last")]
    full = await client.get("/api/wides?limit=10")
    for wide in wides:
        assert await read_bytes(client, f"/api/wides/{wide}") in full.body


async def test_cursors_over_every_sortable_type_page_through_every_row_once(api, samples):
    """Doubles included: NaN and the infinities, which JSON cannot write, travel in the cursor by name."""
    kinds, _, _ = samples
    for sort in ("at", "-at", "ratio", "-ratio", "count", "label", "done"):
        seen, cursor = [], ""
        for _ in range(len(kinds)):  # a cursor that does not move on fails here, not in a loop
            page = await api.anonymous.get(f"/api/kinds?sort={sort}&limit=2{cursor}")
            assert page.status == 200, (sort, page.text)
            seen += [row["id"] for row in page.json["data"]]
            if page.json["meta"]["next_cursor"] is None:
                break
            cursor = f"&cursor={page.json['meta']['next_cursor']}"
        assert sorted(seen) == sorted(kinds), sort
