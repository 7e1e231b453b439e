"""Every error is RFC 9457 problem+json with a request_id, and no client input ever produces a 500."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from engine.kernel.hooks import hookimpl
from engine.testing import PRODUCTION_TOKEN_CLAIMS

JSON = {"Content-Type": "application/json"}
CATALOG = str(Path(__file__).parent / "specs" / "catalog" / "resources.yaml")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def post_raw(client, path: str, body: bytes, content_type: str = "application/json"):
    return await client.post(path, data=body, headers={"Content-Type": content_type})


# --- the request body ---------------------------------------------------------------------------


async def test_malformed_json_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await post_raw(alice, "/api/agents", b'{"name": "Helper",}'), 400)
    assert problem["detail"].startswith("malformed JSON body")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_standard_json_numbers_are_400(api, expect_problem, constant):
    alice = await api.as_user("alice")
    body = b'{"name": "Helper", "parameters": {"temperature": %s}}' % constant.encode()
    problem = expect_problem(await post_raw(alice, "/api/agents", body), 400)
    assert constant.lstrip("-") in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [b'{"name": "Helper", "name": "Shadow"}', b'{"name": "Helper", "parameters": {"model": "a", "model": "b"}}'],
    ids=["top level", "nested"],
)
async def test_duplicate_keys_are_400(api, expect_problem, body):
    alice = await api.as_user("alice")
    problem = expect_problem(await post_raw(alice, "/api/agents", body), 400)
    assert "duplicate key" in problem["detail"]


async def test_huge_float_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    body = b'{"name": "Helper", "parameters": {"temperature": 1e400}}'
    assert "out of range" in expect_problem(await post_raw(alice, "/api/agents", body), 400)["detail"]


async def test_empty_body_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await post_raw(alice, "/api/agents", b""), 400)


async def test_body_that_is_not_an_object_is_400(api, expect_problem):
    alice = await api.as_user("alice")  # (an array is a bulk create: tests/test_bulk_create.py)
    problem = expect_problem(await post_raw(alice, "/api/agents", b'"Helper"'), 400)
    assert problem["detail"] == "the request body must be a JSON object"


async def test_body_that_is_not_utf8_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await post_raw(alice, "/api/agents", '{"name": "café"}'.encode("latin-1")), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_wrong_content_type_is_415(api, expect_problem, content_type):
    alice = await api.as_user("alice")
    problem = expect_problem(await post_raw(alice, "/api/agents", b'{"name": "Helper"}', content_type), 415)
    assert content_type in problem["detail"]


async def test_missing_content_type_is_415(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/agents", data=b'{"name": "Helper"}'), 415)


async def test_patch_with_wrong_content_type_is_415(api, expect_problem):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Helper"})
    patched = await alice.patch(created.headers["Location"], data=b"name=x", headers={"Content-Type": "text/plain"})
    expect_problem(patched, 415)


async def test_json_content_type_with_charset_is_accepted(api):
    alice = await api.as_user("alice")
    created = await post_raw(alice, "/api/agents", b'{"name": "Helper"}', "application/json; charset=utf-8")
    assert created.status == 201


class TestBodyLimit:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, "ENGINE_BODY_LIMIT": "2048"}

    async def test_body_over_the_limit_is_413(self, api, expect_problem):
        alice = await api.as_user("alice")
        body = b'{"name": "Helper", "system_prompt": "%s"}' % (b"x" * 3000)
        problem = expect_problem(await post_raw(alice, "/api/agents", body), 413)
        assert "2048" in problem["detail"]

    async def test_streamed_body_over_the_limit_is_413(self, api, expect_problem):
        alice = await api.as_user("alice")

        async def chunks():
            yield b'{"name": "Helper", "system_prompt": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        expect_problem(await alice.post("/api/agents", data=chunks(), headers=JSON), 413)

    async def test_body_under_the_limit_is_accepted(self, api):
        alice = await api.as_user("alice")
        created = await alice.post("/api/agents", json={"name": "Helper", "system_prompt": "x" * 1500})
        assert created.status == 201


async def test_deep_nesting_is_refused_with_a_client_error(api, expect_problem):
    alice = await api.as_user("alice")
    body = b'{"name": "Helper", "parameters": {"a": ' + b"[" * 100 + b"]" * 100 + b"}}"
    result = await post_raw(alice, "/api/agents", body)
    assert result.status in (400, 422)  # the parser's own guard, or a stricter input-limits plugin
    assert "nested deeper" in expect_problem(result, result.status)["detail"]


async def test_pathological_nesting_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await post_raw(alice, "/api/agents", b"[" * 100_000), 400)


async def test_escaped_nul_in_a_value_is_422_at_its_path(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await post_raw(alice, "/api/agents", b'{"name": "Hel\\u0000per"}'), 422)
    assert problem["errors"] == [{"path": "/name", "message": "strings may not contain NUL (\\u0000) characters"}]


async def test_escaped_nul_in_a_nested_key_is_422_at_its_path(api, expect_problem):
    alice = await api.as_user("alice")
    body = b'{"name": "Helper", "parameters": {"a\\u0000": 1}}'
    problem = expect_problem(await post_raw(alice, "/api/agents", body), 422)
    assert problem["errors"] == [
        {"path": "/parameters/a\x00", "message": "keys may not contain NUL (\\u0000) characters"}
    ]


async def test_an_escaped_backslash_before_u0000_is_no_nul(api):
    alice = await api.as_user("alice")
    created = await post_raw(alice, "/api/agents", b'{"name": "C:\\\\u0000"}')
    assert created.status == 201, created.text
    assert created.json["data"]["name"] == "C:\\u0000"


async def test_each_item_of_a_bulk_create_with_a_nul_is_named(api, expect_problem):
    alice = await api.as_user("alice")
    body = b'[{"name": "ok"}, {"name": "b\\u0000d"}, {"name": "x", "tools": [{"name": "\\u0000"}]}]'
    problem = expect_problem(await post_raw(alice, "/api/agents", body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/1/name", "/2/tools/0/name"]
    assert (await alice.get("/api/agents")).json["data"] == []


async def test_raw_nul_byte_is_400(api, expect_problem):
    alice = await api.as_user("alice")
    expect_problem(await post_raw(alice, "/api/agents", b'{"name": "Hel\x00per"}'), 400)


async def test_unpaired_surrogate_is_refused_as_a_client_error(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await post_raw(alice, "/api/agents", b'{"name": "Helper \\ud800"}'), 422)
    assert [(e["path"], "surrogate" in e["message"]) for e in problem["errors"]] == [("/name", True)]


async def test_unpaired_surrogate_in_a_key_is_422_naming_it(api, expect_problem):
    alice = await api.as_user("alice")
    body = b'{"name": "Helper", "tools": [{"name": "t", "config": {"\\ud800": 1}}]}'
    problem = expect_problem(await post_raw(alice, "/api/agents", body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/tools/0/config/\\ud800"]
    assert "surrogate" in problem["errors"][0]["message"]


async def test_unicode_names_and_values_round_trip(api):
    alice = await api.as_user("alice")
    name = "Ünïcødé 助手 🤖"
    created = await alice.post("/api/agents", json={"name": name, "parameters": {"modèle": "ß", "名前": "🤖"}})
    assert created.status == 201
    got = (await alice.get(created.headers["Location"])).json["data"]
    assert got["name"] == name and got["parameters"] == {"modèle": "ß", "名前": "🤖"}
    assert [r["name"] for r in (await alice.get(f"/api/agents?name={name}")).json["data"]] == [name]


async def test_surrogate_pair_escapes_are_valid_unicode(api):
    alice = await api.as_user("alice")
    created = await post_raw(alice, "/api/agents", b'{"name": "robot \\ud83e\\udd16"}')
    assert created.status == 201
    assert created.json["data"]["name"] == "robot 🤖"


async def test_unicode_field_name_in_the_body_is_422_naming_it(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json={"name": "Helper", "名前": "x"}), 422)
    assert problem["errors"] == [{"path": "/名前", "message": "'名前' is not a field of this resource"}]


class TestNumbersOutOfColumnRange:
    @pytest.fixture
    def engine_spec_path(self):
        return CATALOG

    @pytest.mark.parametrize("code", [b"9223372036854775808", b"-9223372036854775809", b"1e20"])
    async def test_integer_beyond_bigint_is_422(self, api, expect_problem, code):
        body = b'{"code": %s, "title": "Too big"}' % code
        problem = expect_problem(await post_raw(api.anonymous, "/api/items", body), 422)
        assert [e["path"] for e in problem["errors"]] == ["/code"]

    async def test_largest_bigint_is_stored(self, api):
        created = await api.anonymous.post("/api/items", json={"code": 2**63 - 1, "title": "Largest"})
        assert created.status == 201
        assert created.json["data"]["code"] == 2**63 - 1

    async def test_integral_float_for_an_integer_column_is_stored(self, api):
        created = await post_raw(api.anonymous, "/api/items", b'{"code": 5.0, "title": "Five"}')
        assert created.status == 201, created.text
        assert created.json["data"]["code"] == 5

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            (
                b'{"code": 1, "title": "Big", "attributes": {"n": [1, 100000000000000000000000000000]}}',
                "/attributes/n/1",
            ),
            (b'{"code": 1, "title": "Big", "attributes": {"a/b": -%s}}' % (b"9" * 1000), "/attributes/a~1b"),
            (b'{"code": 1, "title": "Big", "price": 1%s}' % (b"0" * 400), "/price"),
        ],
        ids=["in a jsonb array", "in a jsonb object", "for a double column"],
    )
    async def test_integer_beyond_64_bits_anywhere_is_422_with_its_path(self, api, expect_problem, body, path):
        problem = expect_problem(await post_raw(api.anonymous, "/api/items", body), 422)
        assert [e["path"] for e in problem["errors"]] == [path]

    async def test_date_time_beyond_year_9999_is_422(self, api, expect_problem):
        body = {"code": 1, "title": "Late", "released_at": "9999-12-31T23:59:59-23:59"}
        problem = expect_problem(await api.anonymous.post("/api/items", json=body), 422)
        assert problem["errors"][0]["path"] == "/released_at"


# --- routes and ids -------------------------------------------------------------------------------


async def test_unknown_id_is_404(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.get(f"/api/agents/{UNKNOWN_ID}"), 404)
    assert UNKNOWN_ID in problem["detail"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_malformed_uuid_id_is_404(api, expect_problem, method):
    alice = await api.as_user("alice")
    expect_problem(await alice.request(method, "/api/agents/not-a-uuid", json={"name": "x"}), 404)


@pytest.mark.parametrize("path", ["/api/nothing", "/nothing", "/api/agents/a/b", "/api/"])
async def test_unknown_route_is_404(api, expect_problem, path):
    expect_problem(await api.anonymous.get(path), 404)


async def test_wrong_method_on_a_collection_is_405_with_allow(api, expect_problem):
    alice = await api.as_user("alice")
    result = await alice.put("/api/agents", json={"name": "x"})
    expect_problem(result, 405)
    assert result.headers["Allow"] == "DELETE, GET, HEAD, PATCH, POST"  # PATCH, DELETE: by filter


async def test_wrong_method_on_an_item_is_405_with_allow(api, expect_problem):
    alice = await api.as_user("alice")
    result = await alice.post(f"/api/agents/{UNKNOWN_ID}", json={"name": "x"})
    expect_problem(result, 405)
    assert set(result.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH", "PUT", "DELETE"}


# --- constraints ------------------------------------------------------------------------------------


async def test_unique_conflict_is_409_naming_the_field(api, expect_problem):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "u1", "email": "same@example.test"})
    problem = expect_problem(await admin.post("/api/users", json={"id": "u2", "email": "same@example.test"}), 409)
    assert problem["fields"] == ["email"]


async def test_duplicate_primary_key_is_409(api, expect_problem):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "u1", "email": "one@example.test"})
    expect_problem(await admin.post("/api/users", json={"id": "u1", "email": "two@example.test"}), 409)


async def test_unique_conflict_on_patch_is_409(api, expect_problem):
    admin = await api.as_admin()
    await admin.post("/api/users", json={"id": "u1", "email": "one@example.test"})
    await admin.post("/api/users", json={"id": "u2", "email": "two@example.test"})
    expect_problem(await admin.patch("/api/users/u2", json={"email": "one@example.test"}), 409)


async def test_foreign_key_violation_is_422_naming_the_field(api, expect_problem):
    admin = await api.as_admin()
    body = {"team_id": str(uuid.uuid4()), "user_id": "admin"}
    problem = expect_problem(await admin.post("/api/team_members", json=body), 422)
    assert problem["errors"] == [{"path": "/team_id", "message": "no teams row with this id"}]


async def test_check_violation_is_422(api, expect_problem):
    await api.sql("alter table agents add constraint agents_name_not_root check (name <> 'root')")
    alice = await api.as_user("alice")
    expect_problem(await alice.post("/api/agents", json={"name": "root"}), 422)


# --- validation -------------------------------------------------------------------------------------


async def test_validation_lists_every_violation_with_json_pointers(api, expect_problem):
    alice = await api.as_user("alice")
    body = {
        "name": "",
        "status": "sleeping",
        "parameters": {"temperature": 5, "max_tokens": 0},
        "tools": [{"description": "no name"}],
        "colour": "blue",
    }
    problem = expect_problem(await alice.post("/api/agents", json=body), 422)
    assert [e["path"] for e in problem["errors"]] == [
        "/colour",
        "/name",
        "/parameters/max_tokens",
        "/parameters/temperature",
        "/status",
        "/tools/0/name",
    ]
    assert all(e["message"] for e in problem["errors"])
    assert problem["detail"] == "the request body has 6 invalid values"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "null"), (True, "true"), ({"a": 1}, '{"a":1}'), ([1, 2], "[1,2]")],
)
async def test_a_wrongly_typed_value_is_named_in_json_not_python(api, expect_problem, value, shown):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json={"name": value}), 422)
    assert problem["errors"] == [{"path": "/name", "message": f"{shown} is not of type 'string'"}]


async def test_missing_required_field_is_422(api, expect_problem):
    alice = await api.as_user("alice")
    problem = expect_problem(await alice.post("/api/agents", json={}), 422)
    assert problem["errors"] == [{"path": "/name", "message": "'name' is required"}]


async def test_read_only_fields_on_create_are_422(api, expect_problem):
    alice = await api.as_user("alice")
    body = {"name": "Helper", "id": UNKNOWN_ID, "created_at": "2024-01-01T00:00:00Z"}
    problem = expect_problem(await alice.post("/api/agents", json=body), 422)
    assert [e["path"] for e in problem["errors"]] == ["/id", "/created_at"]


async def test_read_only_fields_on_patch_are_422(api, expect_problem):
    alice = await api.as_user("alice")
    created = await alice.post("/api/agents", json={"name": "Helper"})
    patch = {"updated_at": "2024-01-01T00:00:00Z", "id": UNKNOWN_ID}
    problem = expect_problem(await alice.patch(created.headers["Location"], json=patch), 422)
    assert {e["path"] for e in problem["errors"]} == {"/id", "/updated_at"}


# --- 500s ---------------------------------------------------------------------------------------------


class Explodes:
    """A plugin with a bug: every write fails with an internal error."""

    @hookimpl
    def before_write(self, resource, action):
        if resource.name == "agents":
            raise RuntimeError("connection string postgres://secret@db")


class TestProductionInternalError:
    @pytest.fixture
    def engine_env(self, engine_env):
        return {**engine_env, **PRODUCTION_TOKEN_CLAIMS, "ENGINE_ENV": "production", "ENGINE_SESSION_SECRET": "s" * 40}

    @pytest.fixture
    def engine_plugins(self):
        return [Explodes()]

    async def test_500_reveals_nothing_but_the_request_id(self, api, expect_problem):
        alice = await api.as_user("alice")
        result = await alice.post("/api/agents", json={"name": "Helper"})
        problem = expect_problem(result, 500)
        assert set(problem) == {"type", "title", "status", "detail", "request_id"}
        assert "secret" not in result.text and "RuntimeError" not in result.text

    async def test_failed_write_is_rolled_back(self, api):
        alice = await api.as_user("alice")
        await alice.post("/api/agents", json={"name": "Helper"})
        assert await api.sql("select * from agents") == []


class TestDevelopmentInternalError:
    @pytest.fixture
    def engine_plugins(self):
        return [Explodes()]

    async def test_500_carries_the_traceback(self, api, expect_problem):
        alice = await api.as_user("alice")
        problem = expect_problem(await alice.post("/api/agents", json={"name": "Helper"}), 500)
        assert "RuntimeError: connection string postgres://secret@db" in "".join(problem["traceback"])


# --- request ids ----------------------------------------------------------------------------------------


async def test_request_id_from_the_client_is_echoed(api, expect_problem):
    result = await api.anonymous.get("/api/nothing", headers={"X-Request-ID": "trace-42.a:b"})
    assert expect_problem(result, 404)["request_id"] == "trace-42.a:b"
    assert result.headers["X-Request-ID"] == "trace-42.a:b"


async def test_unsafe_request_id_is_replaced(api, expect_problem):
    result = await api.anonymous.get("/api/nothing", headers={"X-Request-ID": "<script>" + "x" * 200})
    request_id = expect_problem(result, 404)["request_id"]
    assert "<" not in request_id and len(request_id) == 32


async def test_successful_responses_carry_a_request_id(api):
    alice = await api.as_user("alice")
    assert (await alice.get("/api/agents")).headers["X-Request-ID"]
