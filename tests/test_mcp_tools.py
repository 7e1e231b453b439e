"""The tools a spec defines (engine/features/mcp/tools.py): names, input schemas and descriptions
from the resources' JSON Schemas and the query language, and arguments turned into REST requests
that only change shape (values are left for the REST route to judge). Pure: no database."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from mcp.shared.tool_name_validation import validate_tool_name

from engine.features.mcp.catalog import Catalog
from engine.features.mcp.names import check_unique, tool_names
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import BadRequest, ConfigurationError
from engine.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(load_spec(str(ROOT / "resources.yaml")), page_size=20, max_page_size=100)


def query_of(path: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(path).query)


def test_every_resource_has_a_tool_per_action_with_a_valid_mcp_name(catalog):
    names = [tool.name for tool in catalog]
    assert names[:5] == ["users_list", "users_get", "users_create", "users_update", "users_delete"]
    assert len(names) == 5 * 5 + 7 + 4 + 2  # then the members' and the agents' nested routes, and 2 of /api/me
    assert all(validate_tool_name(name).is_valid for name in names)


def test_descriptions_come_from_the_schemas_title_and_description(catalog):
    description = catalog.get("agents_list").tool.description
    assert description.startswith("List agents (Agent: An AI agent: a system prompt, a status")
    assert "GET /api/agents" in description


def test_the_update_tool_names_the_declared_status_moves(catalog):
    description = catalog.get("agents_update").tool.description
    assert "status changes only by these moves" in description
    assert "draft -> active, archived" in description and "archived -> nothing (final)" in description


def test_a_create_body_is_the_writable_fields_of_the_resource_schema(catalog):
    data = catalog.get("agents_create").tool.input_schema["properties"]["data"]
    assert data["required"] == ["name"]
    assert "id" not in data["properties"] and "created_at" not in data["properties"]  # read-only
    assert data["properties"]["status"]["enum"] == ["draft", "active", "paused", "archived"]


def test_an_update_body_requires_nothing_and_has_no_defaults(catalog):
    data = catalog.get("agents_update").tool.input_schema["properties"]["data"]
    assert "required" not in data
    assert "default" not in data["properties"]["status"]


def test_filters_offer_each_fields_operators_and_no_write_only_field(catalog):
    filters = catalog.get("agents_list").tool.input_schema["properties"]["filter"]["properties"]
    assert "secrets" not in filters
    by_operator = filters["name"]["anyOf"][-1]["properties"]
    assert {"eq", "in", "like", "ilike", "is"} <= set(by_operator)
    assert set(filters["parameters"]["properties"]) == {"contains", "is"}  # JSON: no equality


def test_sort_offers_each_sortable_field_both_ways(catalog):
    sort = catalog.get("agents_list").tool.input_schema["properties"]["sort"]["items"]["enum"]
    assert "name" in sort and "-created_at" in sort
    assert "parameters" not in sort and "secrets" not in sort


def test_filters_become_the_query_languages_parameters(catalog):
    call = catalog.get("agents_list").call(
        {
            "filter": {"status": {"in": ["draft", "active"]}, "name": "Helper", "system_prompt": None},
            "sort": ["-created_at", "name"],
            "limit": 5,
            "cursor": "abc",
        }
    )
    assert call.method == "GET"
    assert query_of(call.path) == [
        ("status[in]", "draft,active"),
        ("name", "Helper"),
        ("system_prompt[is]", "null"),
        ("sort", "-created_at,name"),
        ("limit", "5"),
        ("cursor", "abc"),
    ]


def test_json_contains_and_scalar_values_are_written_as_the_query_language_reads_them(catalog):
    call = catalog.get("agents_list").call({"filter": {"parameters": {"contains": {"model": "x"}}, "tools": None}})
    assert query_of(call.path) == [("parameters[contains]", '{"model":"x"}'), ("tools[is]", "null")]
    flags = catalog.get("users_list").call({"filter": {"tutorial_completed": True}})
    assert query_of(flags.path) == [("tutorial_completed", "true")]


def test_values_are_passed_on_for_the_rest_route_to_judge(catalog):
    call = catalog.get("agents_list").call({"filter": {"name": {"near": "x"}}, "limit": "many"})
    assert query_of(call.path) == [("name[near]", "x"), ("limit", "many")]


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("agents_list", {"filter": ["name"]}, "'filter' must be an object"),
        ("agents_list", {"filter": {"limit": 5}}, "'limit' is not a field"),
        ("agents_list", {"filter": {"name": {}}}, "names no operator"),
        ("agents_list", {"filter": {"name": {"eq": ["a"]}}}, "expected a single value"),
        ("agents_list", {"limit": True}, "'limit' must be an integer"),
        ("agents_get", {}, "needs 'id'"),
        ("agents_get", {"id": {"x": 1}}, "needs 'id'"),
        ("agents_create", {"data": "name=x"}, "needs 'data'"),
        ("agents_create", {"data": {"name": "x", "parameters": {"temperature": float("nan")}}}, "NaN or Infinity"),
        ("agents_list", {"filter": {"name": float("inf")}}, "NaN and Infinity are not values"),
        ("agents_list", {"filter": {"parameters": {"contains": {"t": float("nan")}}}}, "NaN or Infinity"),
        ("agents_delete", {"id": "1", "force": True}, "unknown argument 'force'"),
    ],
)
def test_arguments_of_the_wrong_shape_are_a_bad_request_naming_the_problem(catalog, tool, arguments, named):
    with pytest.raises(BadRequest, match=named):
        catalog.get(tool).call(arguments)


def test_writes_send_data_as_the_json_body(catalog):
    call = catalog.get("agents_update").call({"id": "a/b", "data": {"name": "x"}})
    assert (call.method, call.path, call.body) == ("PATCH", "/api/agents/a%2Fb", b'{"name":"x"}')


def test_each_relation_has_a_tool_per_nested_route_after_the_resource_tools(catalog):
    names = [tool.name for tool in catalog][25:]
    assert names == [
        "teams_members_list",
        "teams_members_get",
        "teams_members_add",
        "teams_members_update",
        "teams_members_remove",
        "teams_members_accept",  # members are invitations: the invitee's routes
        "teams_members_decline",
        "teams_agents_list",
        "teams_agents_get",
        "teams_agents_add",
        "teams_agents_remove",  # team_agents has no field of its own: no PATCH route, no update tool
        "my_invitations",
        "me",
    ]


def test_an_add_body_leaves_out_what_the_url_and_the_invitee_set(catalog):
    data = catalog.input_schema("teams_members_add")["properties"]["data"]
    assert set(data["properties"]) == {"user_id", "role"} and data["required"] == ["user_id"]


def test_a_link_update_body_is_the_links_own_fields(catalog):
    data = catalog.input_schema("teams_members_update")["properties"]["data"]
    assert set(data["properties"]) == {"role"} and "required" not in data


def test_relation_tool_calls_become_the_nested_routes_requests(catalog):
    team = "6f1c0d7e-5b7a-4a57-9d8e-2a4f3c1e9b10"
    listed = catalog.get("teams_members_list").call({"id": team, "filter": {"role": "admin"}, "limit": 5})
    assert (listed.method, listed.path) == ("GET", f"/api/teams/{team}/members?role=admin&limit=5")
    removed = catalog.get("teams_members_remove").call({"id": team, "user_id": "a/b"})
    assert (removed.method, removed.path) == ("DELETE", f"/api/teams/{team}/members/a%2Fb")
    added = catalog.get("teams_agents_add").call({"id": team, "data": {"agent_id": "x"}})
    assert (added.method, added.path, added.body) == ("POST", f"/api/teams/{team}/agents", b'{"agent_id":"x"}')
    accepted = catalog.get("teams_members_accept").call({"id": team, "user_id": "erin"})
    assert (accepted.method, accepted.path) == ("POST", f"/api/teams/{team}/members/erin/accept")
    assert catalog.get("my_invitations").call({}).path == "/api/me/invitations"
    assert catalog.get("me").call({}) == catalog.get("me").call(None)
    assert (catalog.get("me").call({}).method, catalog.get("me").call({}).path) == ("GET", "/api/me")


def test_a_relation_tool_without_the_far_side_id_is_a_bad_request_naming_it(catalog):
    with pytest.raises(BadRequest, match="user_id"):
        catalog.get("teams_members_remove").call({"id": "t"})


CLASHING = """
version: 1
resources:
  people:
    schema: schemas/team.json
  teams:
    schema: schemas/team.json
    relations:
      members: {through: teams_members, key: team_id, other: person_id}
  teams_members:
    schema: schemas/member.json
    references:
      team_id: {resource: teams, on_delete: cascade}
      person_id: {resource: people, on_delete: cascade}
"""


def test_a_join_resource_named_like_its_relations_tools_is_refused_at_start_up(write_spec, schema_of):
    team = schema_of({"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}})
    member = schema_of(
        {
            "id": {"type": "string", "format": "uuid"},
            "team_id": {"type": "string", "format": "uuid"},
            "person_id": {"type": "string", "format": "uuid"},
        }
    )
    spec = load_spec(str(write_spec(CLASHING, {"schemas/team.json": team, "schemas/member.json": member})))
    env = {"ENGINE_JWT_SECRET": "x" * 32, "ENGINE_SESSION_SECRET": "y" * 44, "ENGINE_ENV": "development"}
    with pytest.raises(ConfigurationError, match="'teams_members_get'"):
        create_app(spec, Config.from_env(spec, env=env, database_url="postgresql://nowhere/db"))


def test_the_example_specs_tool_names_are_the_catalogs(catalog):
    example = load_spec(str(ROOT / "resources.yaml"))
    check_unique(example)
    assert list(tool_names(example)) == [tool.name for tool in catalog][: len(list(tool_names(example)))]
