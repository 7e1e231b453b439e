"""The MCP tools of a project that is not the example app: generated from its spec alone, and its
rules (anonymous permissions, integer and text keys, per-action rate limits) hold through them."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp_support import mcp_client, tool_names, without_request_id

GENERIC = Path(__file__).parent / "specs" / "generic"
RATE_LIMITED = Path(__file__).parent / "specs" / "rate_limited_notes"


@pytest.fixture
def engine_spec_path():
    return str(GENERIC / "resources.yaml")


async def test_every_resource_and_action_anonymous_may_use_is_a_tool(api):
    async with mcp_client(api) as client:
        names = await tool_names(client)

    verbs = ("list", "get", "create", "update", "delete")
    assert names == {f"{resource}_{verb}" for resource in ("authors", "books") for verb in verbs}


async def test_the_id_argument_takes_the_primary_keys_type(api):
    async with mcp_client(api) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert tools["authors_get"].input_schema["properties"]["id"]["type"] == "integer"
    assert tools["books_get"].input_schema["properties"]["id"]["type"] == "string"
    assert tools["authors_create"].input_schema["properties"]["data"]["required"] == ["id", "name"]


async def test_integer_and_text_keys_reach_their_rows(api):
    async with mcp_client(api) as client:
        await client.call_tool("authors_create", {"data": {"id": 1, "name": "Andy Hunt"}})
        book = {"isbn": "978-0-13-468599-1", "title": "The Pragmatic Programmer", "author_id": 1}
        await client.call_tool("books_create", {"data": book})
        author = await client.call_tool("authors_get", {"id": 1})
        got = await client.call_tool("books_get", {"id": book["isbn"]})

    assert author.structured_content == (await api.anonymous.get("/api/authors/1")).json
    assert got.structured_content == (await api.anonymous.get(f"/api/books/{book['isbn']}")).json


async def test_a_restricting_reference_refuses_the_delete_as_over_rest(api):
    async with mcp_client(api) as client:
        await client.call_tool("authors_create", {"data": {"id": 1, "name": "Andy Hunt"}})
        book = {"isbn": "978-0-13-468599-1", "title": "The Pragmatic Programmer", "author_id": 1}
        await client.call_tool("books_create", {"data": book})
        refused = await client.call_tool("authors_delete", {"id": 1})

    rest = await api.anonymous.delete("/api/authors/1")
    assert rest.status == 409
    assert without_request_id(refused.structured_content) == without_request_id(rest.json)


@pytest.mark.parametrize("engine_spec_path", [str(RATE_LIMITED / "resources.yaml")])
async def test_a_resources_rate_limit_counts_tool_calls_as_it_counts_rest_calls(api):
    async with mcp_client(api) as client:
        answers = [await client.call_tool("notes_create", {"data": {"text": str(n)}}) for n in range(3)]

    assert [a.is_error for a in answers] == [False, False, True]
    assert answers[2].structured_content["status"] == 429
    assert (await api.anonymous.post("/api/notes", json={"text": "rest"})).status == 429
