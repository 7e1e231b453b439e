"""GET of one row answered with JSON written by PostgreSQL (engine/http/json_reads.py): the bytes
and the ETag are those of the decoding path, conditional requests work with them, and projections
PostgreSQL cannot write exactly (jsonb) still take the decoding path. Spec: tests/specs/generic."""

from __future__ import annotations

import orjson
import pytest

from engine.http.etag import item_tag
from engine.http.json_reads import read_json
from engine.http.keys import MANAGERS


@pytest.fixture
def engine_spec_path(request):
    return str(request.config.rootpath / "tests" / "specs" / "generic" / "resources.yaml")


async def decoded(api, resource: str, pk: str, fields=None) -> dict:
    """The row as today's path reads it (asyncpg decodes, the handler encodes with orjson)."""
    return await api.app[MANAGERS][resource].get(pk, None, fields)


async def test_a_read_of_exact_fields_is_todays_bytes_and_etag(api):
    created = await api.anonymous.post("/api/authors", json={"id": 7, "name": 'Zoë "Q" \\ 😀', "born": None})
    assert created.status == 201
    result = await api.anonymous.get("/api/authors/7")
    assert result.status == 200
    row = await decoded(api, "authors", "7")
    assert result.body == orjson.dumps({"data": row})
    assert result.headers["ETag"] == item_tag(row)


async def test_a_read_of_chosen_fields_keeps_their_order(api):
    await api.anonymous.post("/api/authors", json={"id": 8, "name": "Ada", "born": 1815})
    result = await api.anonymous.get("/api/authors/8?fields=name,id,born")
    row = await decoded(api, "authors", "8", ("name", "id", "born"))
    assert result.body == orjson.dumps({"data": row})


async def test_the_database_path_is_the_one_taken_for_exact_fields(api):
    await api.anonymous.post("/api/authors", json={"id": 9, "name": "Ada"})
    answer = await read_json(api.app[MANAGERS]["authors"], "9", None, None)
    assert answer is not None


async def test_a_projection_with_jsonb_takes_the_decoding_path(api):
    await api.anonymous.post("/api/authors", json={"id": 1, "name": "Ada"})
    book = {"isbn": "978-0-00-000000-1", "title": "Notes", "author_id": 1, "details": {"b": 1.50, "a": [1, 2]}}
    assert (await api.anonymous.post("/api/books", json=book)).status == 201
    assert await read_json(api.app[MANAGERS]["books"], book["isbn"], None, None) is None
    result = await api.anonymous.get(f"/api/books/{book['isbn']}")
    assert result.body == orjson.dumps({"data": await decoded(api, "books", book["isbn"])})


async def test_if_none_match_with_the_databases_etag_is_304(api):
    await api.anonymous.post("/api/authors", json={"id": 10, "name": "Ada"})
    etag = (await api.anonymous.get("/api/authors/10")).headers["ETag"]
    assert (await api.anonymous.get("/api/authors/10", headers={"If-None-Match": etag})).status == 304


async def test_if_match_with_the_databases_etag_lets_a_patch_through(api):
    await api.anonymous.post("/api/authors", json={"id": 11, "name": "Ada"})
    etag = (await api.anonymous.get("/api/authors/11")).headers["ETag"]
    result = await api.anonymous.patch("/api/authors/11", json={"name": "Ada L."}, headers={"If-Match": etag})
    assert result.status == 200, result.text


async def test_a_missing_row_is_404_on_the_database_path(api):
    assert (await api.anonymous.get("/api/authors/404")).status == 404
