"""GET /openapi.json: a valid OpenAPI 3.1 document describing every route the app serves."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from engine import hookimpl
from engine.features.openapi import document_for, operations
from engine.features.openapi.coverage import undocumented_routes
from engine.http.query import OPERATORS_BY_TYPE
from engine.spec import load_spec

AGENT_LIST = ("/api/agents", "get")


async def fetch_document(api) -> dict:
    result = await api.anonymous.get("/openapi.json")
    assert result.status == 200, result.text
    assert result.headers["Content-Type"].startswith("application/json")
    return result.json


def operation(document: dict, path: str, method: str) -> dict:
    return document["paths"][path][method]


def parameter_names(op: dict) -> list[str]:
    return [p["name"] for p in op.get("parameters", [])]


async def test_document_is_valid_openapi_3_1(api):
    document = await fetch_document(api)
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_route_the_app_serves_is_in_the_document(api):
    document = await fetch_document(api)
    assert undocumented_routes(api.app, document) == []


class TestWithCorsOrigins:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_CORS_ORIGINS": "https://app.example.com"}

    async def test_cors_preflight_routes_are_not_reported_as_undocumented(self, api):
        preflight = await api.anonymous.request(
            "OPTIONS",
            "/api/agents",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status == 200
        assert undocumented_routes(api.app, await fetch_document(api)) == []


async def test_every_filter_operator_of_every_field_is_a_parameter(api):
    document = await fetch_document(api)
    names = set(parameter_names(operation(document, *AGENT_LIST)))
    for field in api.spec.resources["agents"].fields.values():
        for op in OPERATORS_BY_TYPE[field.sql_type]:
            assert (field.name if op == "eq" else f"{field.name}[{op}]") in names
    assert {"status", "status[ne]", "status[in]", "created_at[gte]", "parameters[contains]"} <= names


async def test_in_filters_are_comma_separated_arrays(api):
    document = await fetch_document(api)
    (status_in,) = [p for p in operation(document, *AGENT_LIST)["parameters"] if p["name"] == "status[in]"]
    assert status_in["style"] == "form" and status_in["explode"] is False
    assert status_in["schema"]["items"]["enum"] == ["draft", "active", "paused", "archived"]


async def test_list_parameters_include_paging_sorting_and_projection(api):
    document = await fetch_document(api)
    names = parameter_names(operation(document, *AGENT_LIST))
    assert {"sort", "limit", "cursor", "fields", "include"} <= set(names)
    (limit,) = [p for p in operation(document, *AGENT_LIST)["parameters"] if p["name"] == "limit"]
    assert limit["schema"]["maximum"] == api.spec.settings.max_page_size


async def test_row_schema_marks_read_only_fields_and_adds_timestamps(api):
    schemas = (await fetch_document(api))["components"]["schemas"]
    row = schemas["Agents"]["properties"]
    assert row["id"]["readOnly"] is True
    for name in ("created_at", "updated_at"):
        assert row[name] == {
            "type": "string",
            "format": "date-time",
            "readOnly": True,
            "description": row[name]["description"],
        }


async def test_optional_fields_may_come_back_as_null(api):
    row = (await fetch_document(api))["components"]["schemas"]["Agents"]["properties"]
    assert row["system_prompt"]["type"] == ["string", "null"]
    assert row["name"]["type"] == "string"  # required: never null


async def test_create_schema_leaves_out_read_only_fields_and_does_not_require_the_owner(api):
    create = (await fetch_document(api))["components"]["schemas"]["AgentsCreate"]
    assert not {"id", "created_at", "updated_at"} & set(create["properties"])
    assert create["required"] == ["name"]
    assert create["additionalProperties"] is False


async def test_update_schema_requires_nothing(api):
    update = (await fetch_document(api))["components"]["schemas"]["AgentsUpdate"]
    assert "required" not in update
    assert "name" in update["properties"]


async def test_create_and_update_take_their_body_schemas(api):
    document = await fetch_document(api)
    create = operation(document, "/api/agents", "post")["requestBody"]["content"]["application/json"]
    update = operation(document, "/api/agents/{id}", "patch")["requestBody"]["content"]["application/json"]
    assert create["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/AgentsCreate"}  # or an array of them
    assert update["schema"] == {"$ref": "#/components/schemas/AgentsUpdate"}


async def test_every_generated_request_body_has_an_example_valid_against_its_schema(api):
    document = await fetch_document(api)
    generated = [op for _, _, op in operations(document) if set(op.get("tags", ())) & set(api.spec.resources)]
    bodies = [op["requestBody"]["content"]["application/json"] for op in generated if "requestBody" in op]
    assert len(bodies) >= 10
    for body in bodies:
        schema = {**body["schema"], "components": document["components"]}
        Draft202012Validator(schema).validate(body["example"])


async def test_nested_attach_body_leaves_out_the_key_the_url_supplies(api):
    document = await fetch_document(api)
    attach = operation(document, "/api/teams/{id}/members", "post")["requestBody"]["content"]["application/json"]
    assert "team_id" not in attach["schema"]["properties"]
    assert attach["schema"]["required"] == ["user_id"]
    assert set(attach["example"]) == {"user_id"}


async def test_every_operation_describes_its_errors_as_problem_json(api):
    document = await fetch_document(api)
    responses = document["components"]["responses"]
    for name in ("BadRequest", "Unauthorized", "NotFound", "ValidationFailed", "Error"):
        (media,) = responses[name]["content"]
        assert media == "application/problem+json"
    for path in ("/api/agents", "/api/agents/{id}"):
        for method, op in document["paths"][path].items():
            if method != "parameters":
                assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}


async def test_every_generated_operation_with_a_body_documents_413_and_415(api):
    document = await fetch_document(api)
    generated = [op for _, _, op in operations(document) if set(op.get("tags", ())) & set(api.spec.resources)]
    with_body = [op for op in generated if "requestBody" in op]
    assert "update_teams_members" in {op["operationId"] for op in with_body}  # a link's own fields
    for op in with_body:
        assert {"413", "415"} <= set(op["responses"]), op["operationId"]


async def test_validation_problems_list_their_errors(api):
    document = await fetch_document(api)
    create = operation(document, "/api/agents", "post")
    assert create["responses"]["422"] == {"$ref": "#/components/responses/ValidationFailed"}
    assert "errors" in document["components"]["schemas"]["ValidationProblem"]["allOf"][1]["properties"]


async def test_bearer_tokens_are_a_security_scheme_required_by_resource_routes(api):
    document = await fetch_document(api)
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert bearer == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": bearer["description"]}
    assert {"bearerAuth": []} in document["security"]
    assert "security" not in operation(document, *AGENT_LIST)  # the document-wide requirement applies


async def test_the_document_itself_needs_no_credentials(api):
    document = await fetch_document(api)
    assert {} in operation(document, "/openapi.json", "get")["security"]


class DescribedRoute:
    """A plugin serving GET /api/hello and describing it through the hook."""

    @hookimpl
    def register_routes(self):
        async def hello(request):
            return web.json_response({"hello": "world"})

        return [web.get("/api/hello", hello, allow_head=False)]

    @hookimpl
    def register_openapi(self, document):
        document["paths"]["/api/hello"] = {
            "get": {"summary": "Say hello", "tags": ["greetings"], "responses": {"200": {"description": "Hello."}}}
        }


class UndescribedRoute:
    @hookimpl
    def register_routes(self):
        async def secret(request):
            return web.Response(text="ssh")

        return [web.post("/api/secret/{name:[a-z]+}", secret)]


class TestPluginRoutes:
    @pytest.fixture
    def engine_plugins(self):
        return [DescribedRoute(), UndescribedRoute()]

    async def test_a_plugin_adds_its_paths_through_the_openapi_document_hook(self, api):
        document = await fetch_document(api)
        assert document["paths"]["/api/hello"]["get"]["summary"] == "Say hello"
        assert {"name": "greetings"} in document["tags"]

    async def test_a_route_served_but_not_described_is_reported(self, api):
        missing = undocumented_routes(api.app, await document_for(api.app))
        assert "POST /api/secret/{name}" in missing
        assert "GET /api/hello" not in missing


class TestGenericSpec:
    """A spec written here (not the example app) with $defs, an anonymous action and no owner."""

    @pytest.fixture
    def engine_spec_path(self, write_spec, schema_of):
        note = schema_of(
            {
                "id": {"type": "integer", "readOnly": True},
                "title": {"type": "string", "maxLength": 80},
                "places": {"type": "array", "items": {"$ref": "#/$defs/place"}},
            },
            required=["title"],
        )
        note["$defs"] = {"place": {"type": "object", "properties": {"city": {"type": "string"}}}}
        path = write_spec(
            """
            version: 1
            resources:
              notes:
                schema: schemas/note.json
                permissions: {list: [anonymous], read: [anonymous]}
            """,
            {"schemas/note.json": note},
        )
        return str(path)

    async def test_local_refs_are_rerooted_under_the_component(self, api):
        document = await fetch_document(api)
        places = document["components"]["schemas"]["Notes"]["properties"]["places"]
        assert places["items"] == {"$ref": "#/components/schemas/Notes/$defs/place"}
        validate(document)

    async def test_an_action_open_to_anonymous_callers_makes_credentials_optional(self, api):
        document = await fetch_document(api)
        security = operation(document, "/api/notes", "get")["security"]
        assert security[0] == {} and {"bearerAuth": []} in security
        assert "security" not in operation(document, "/api/notes", "post")

    async def test_filter_parameters_follow_the_column_types(self, api):
        names = parameter_names(operation(await fetch_document(api), "/api/notes", "get"))
        assert {"id[gte]", "title[ilike]", "places[contains]"} <= set(names)
        assert "places[gte]" not in names and "include" not in names


def test_openapi_command_prints_the_same_document(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "engine", "openapi"], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    validate(document)
    assert set(document["paths"]) >= {f"/api/{name}" for name in load_spec("resources.yaml").resources}


def response_schema(document: dict, path: str, method: str, status: str) -> dict:
    """The documented schema of a response (following a `$ref` to components.responses)."""
    response = operation(document, path, method)["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    (media,) = response["content"].values()
    return {**media["schema"], "components": document["components"]}


async def test_real_responses_match_their_documented_schemas(api):
    document = await fetch_document(api)
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Helper", "parameters": {"temperature": 0.2}})
    item = created.headers["Location"]
    checks = [
        (created, "/api/agents", "post", "201"),
        (await alice.get("/api/agents?limit=1"), "/api/agents", "get", "200"),
        (await alice.get(item), "/api/agents/{id}", "get", "200"),
        (await alice.patch(item, json={"status": "active"}), "/api/agents/{id}", "patch", "200"),
        (await alice.post("/api/agents", json={"name": ""}), "/api/agents", "post", "422"),
        (await alice.get("/api/agents?colour=blue"), "/api/agents", "get", "400"),
        (await api.anonymous.get("/api/agents"), "/api/agents", "get", "401"),
        (await alice.get("/api/agents/00000000-0000-0000-0000-000000000000"), "/api/agents/{id}", "get", "404"),
    ]
    for result, path, method, status in checks:
        assert str(result.status) == status, result.text
        Draft202012Validator(response_schema(document, path, method, status)).validate(result.json)
