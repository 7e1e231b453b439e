"""A resource declared only in a project's own YAML + JSON Schema gets its table, migration and endpoints.

tests/specs/generic/ knows nothing of the example app: a text primary key named isbn, a custom table
name, client-chosen integer ids, a composite unique constraint and a restricting reference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.spec import load_spec
from engine.testing import TEST_JWT_SECRET, ApiClient

GENERIC = Path(__file__).parent / "specs" / "generic"
BOOK = {"isbn": "978-0-13-468599-1", "title": "The Pragmatic Programmer", "author_id": 1}


@pytest.fixture
def engine_spec_path():
    return str(GENERIC / "resources.yaml")


@pytest.fixture
async def library(api):
    """The anonymous client, with one author and one book."""
    client = api.anonymous
    assert (await client.post("/api/authors", json={"id": 1, "name": "Andy Hunt"})).status == 201
    assert (await client.post("/api/books", json=BOOK)).status == 201
    return client


async def test_create_uses_the_declared_primary_key_in_location(api):
    created = await api.anonymous.post("/api/authors", json={"id": 7, "name": "Ada"})
    assert created.status == 201
    assert created.headers["Location"] == "/api/authors/7"


async def test_rows_live_in_the_declared_table(api, library):
    (row,) = await api.sql("select isbn, title, format, details from library_books")
    assert dict(row) == {"isbn": BOOK["isbn"], "title": BOOK["title"], "format": "paperback", "details": {}}


async def test_text_primary_key_serves_get_patch_and_delete(library):
    location = f"/api/books/{BOOK['isbn']}"
    assert (await library.get(location)).json["data"]["title"] == BOOK["title"]
    patched = await library.patch(location, json={"pages": 352, "format": "hardcover"})
    assert patched.json["data"]["pages"] == 352 and patched.json["data"]["format"] == "hardcover"
    assert (await library.delete(location)).status == 204
    assert (await library.get(location)).status == 404


async def test_integer_primary_key_that_does_not_parse_is_404(library, expect_problem):
    expect_problem(await library.get("/api/authors/one"), 404)


async def test_schema_rules_are_enforced(library, expect_problem):
    problem = expect_problem(await library.post("/api/books", json={**BOOK, "isbn": "x", "pages": 0}), 422)
    assert [e["path"] for e in problem["errors"]] == ["/isbn", "/pages"]


async def test_composite_unique_constraint_is_409(library, expect_problem):
    again = {**BOOK, "isbn": "978-0-201-61622-4"}
    problem = expect_problem(await library.post("/api/books", json=again), 409)
    assert problem["fields"] == ["author_id", "title"]


async def test_reference_to_a_missing_row_is_422(library, expect_problem):
    problem = expect_problem(
        await library.post("/api/books", json={**BOOK, "isbn": "1234567890", "author_id": 99}), 422
    )
    assert problem["errors"] == [{"path": "/author_id", "message": "no authors row with this id"}]


async def test_deleting_a_referenced_row_under_restrict_is_409(library, expect_problem):
    expect_problem(await library.delete("/api/authors/1"), 409)
    assert (await library.get("/api/authors/1")).status == 200


async def test_list_query_language_works_on_the_new_fields(library):
    await library.post("/api/books", json={**BOOK, "isbn": "978-0-201-61622-4", "title": "Refactoring", "pages": 448})
    result = await library.get("/api/books?pages[gt]=400&fields=isbn,title")
    assert result.json["data"] == [{"isbn": "978-0-201-61622-4", "title": "Refactoring"}]


async def test_routes_exist_for_every_declared_resource(api):
    paths = {route.resource.canonical for route in api.app.router.routes() if route.resource}
    assert {"/api/authors", "/api/authors/{id}", "/api/books", "/api/books/{id}"} <= paths


async def test_yaml_and_schema_alone_give_a_migration_a_table_and_endpoints(
    tmp_path, engine_database_url, engine_schema, aiohttp_client
):
    project = tmp_path / "library"
    shutil.copytree(GENERIC, project)
    assert main(["--spec", str(project / "resources.yaml"), "migrate", "make"]) == 0
    assert (project / "migrations" / "0001_initial.sql").exists()
    spec = load_spec(str(project / "resources.yaml"))
    env = {"ENGINE_ENV": "development", "ENGINE_JWT_SECRET": TEST_JWT_SECRET}
    config = Config.from_env(
        spec, env=env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=True
    )
    client = ApiClient(await aiohttp_client(create_app(spec, config)))
    assert (await client.post("/api/authors", json={"id": 1, "name": "Andy Hunt"})).status == 201
    created = await client.post("/api/books", json=BOOK)
    assert created.status == 201
    assert (await client.get(created.headers["Location"])).json["data"]["author_id"] == 1
