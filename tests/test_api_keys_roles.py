"""What a key's owner holds now decides its roles: the users resource's `roles_field` column and
ENGINE_ADMINS answer `user_roles`, their union is what the owner holds, and a key keeps only the
roles it was created with that the owner still holds, from the very next request on."""

from __future__ import annotations

import pytest
from roles_support import FILES, SPEC, USER_SCHEMA, set_roles
from stand_in_oidc_provider import google_env, oidc_provider_fixture, sign_in  # noqa: F401

from engine.http.app import create_app
from engine.kernel.config import Config
from engine.spec import SpecError, load_spec
from engine.testing import ApiClient


@pytest.fixture
def engine_spec_path(write_spec) -> str:
    return str(write_spec(SPEC, FILES))


async def admins_key(api, user_id: str = "ada") -> ApiClient:
    """A key `user_id` created while signed in as an admin (so the key holds `admin`)."""
    await api.as_user(user_id)
    await set_roles(api, user_id, ["admin"])
    creator = api.with_token(api.token(user_id, ["admin"]))
    created = await creator.post("/api/me/api-keys", json={"name": "ci", "scopes": ["*:read", "*:write"]})
    assert created.status == 201, created.text
    assert created.json["data"]["roles"] == ["admin"]
    return ApiClient(api.client, {"X-API-Key": created.json["data"]["key"]})


async def test_an_admins_key_loses_admin_the_moment_the_roles_column_drops_it(api):
    key = await admins_key(api)
    assert (await key.get("/api/reports")).status == 200
    await set_roles(api, "ada", [])
    assert (await key.get("/api/reports")).status == 403


async def test_a_demoted_owners_key_has_admin_again_once_the_owner_is_promoted_again(api):
    key = await admins_key(api)
    await set_roles(api, "ada", [])
    assert (await key.get("/api/reports")).status == 403
    await set_roles(api, "ada", ["admin"])
    assert (await key.get("/api/reports")).status == 200


async def test_a_key_created_without_admin_gains_nothing_when_its_owner_is_promoted(api):
    await api.as_user("bob")
    created = await api.with_token(api.token("bob")).post("/api/me/api-keys", json={"name": "k", "scopes": ["*:read"]})
    key = ApiClient(api.client, {"X-API-Key": created.json["data"]["key"]})
    await set_roles(api, "bob", ["admin"])
    assert (await key.get("/api/reports")).status == 403


async def test_a_key_of_an_owner_the_column_names_no_admin_is_not_admin_even_if_created_so(api):
    await api.as_user("eve")  # the column says: no roles
    creator = api.with_token(api.token("eve", ["admin"]))  # a token that claims more than the column
    created = await creator.post("/api/me/api-keys", json={"name": "k", "scopes": ["*:read"]})
    key = ApiClient(api.client, {"X-API-Key": created.json["data"]["key"]})
    assert (await key.get("/api/reports")).status == 403


async def test_only_admins_change_a_users_roles(api, expect_problem):
    ada = await api.as_user("ada")
    problem = expect_problem(await ada.patch("/api/users/ada", json={"roles": ["admin"]}), 422)
    assert "roles" in str(problem)


class TestEngineAdmins:
    """ENGINE_ADMINS (Google sign-in configured) names admins by id or e-mail; the column adds more."""

    @pytest.fixture
    def engine_env(self, oidc_provider):
        return google_env(oidc_provider, ENGINE_ADMINS="ADA@example.test")

    async def test_a_key_of_an_owner_engine_admins_names_keeps_admin_whatever_the_column_says(self, api):
        key = await admins_key(api)
        await set_roles(api, "ada", [])
        assert (await key.get("/api/reports")).status == 200

    async def test_a_key_of_an_owner_only_the_column_names_keeps_admin(self, api):
        key = await admins_key(api, "grace")
        assert (await key.get("/api/reports")).status == 200
        await set_roles(api, "grace", [])
        assert (await key.get("/api/reports")).status == 403

    async def test_a_key_loses_admin_once_engine_admins_no_longer_names_its_owner(
        self, api, aiohttp_client, engine_spec, engine_env, engine_database_url, engine_schema
    ):
        key = await admins_key(api)
        await set_roles(api, "ada", [])
        env = {**engine_env, "ENGINE_ADMINS": "someone-else@example.test"}
        config = Config.from_env(
            engine_spec, env=env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
        )
        restarted = await aiohttp_client(create_app(engine_spec, config))
        assert (await key.get("/api/reports")).status == 200
        assert (await ApiClient(restarted, key.headers).get("/api/reports")).status == 403

    async def test_a_google_sign_in_starts_with_the_roles_of_the_column(self, api, oidc_provider):
        oidc_provider.user["email"] = "grace@example.test"
        await api.as_user("grace")
        await set_roles(api, "grace", ["admin", "auditor"])
        assert (await sign_in(api)).status == 302
        assert (await api.anonymous.get("/api/reports")).status == 200


# --- resource-engine check: what `roles_field` must name ---------------------------------------------


def check_errors(write_spec, old: str, new: str, files: dict | None = None) -> str:
    assert old in SPEC
    path = write_spec(SPEC.replace(old, new), {**FILES, **(files or {})})
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    return "\n".join(caught.value.errors)


def test_the_roles_field_is_read_from_the_spec(write_spec):
    assert load_spec(str(write_spec(SPEC, FILES))).resources["users"].roles_field == "roles"


def test_a_roles_field_that_is_no_property_is_refused(write_spec):
    errors = check_errors(write_spec, "roles_field: roles", "roles_field: rolez")
    assert "resources.users.roles_field: roles field 'rolez' is not a property" in errors


def test_a_roles_field_that_is_not_an_array_of_strings_is_refused(write_spec):
    user = {**USER_SCHEMA, "properties": {**USER_SCHEMA["properties"], "roles": {"type": "string"}}}
    errors = check_errors(write_spec, "roles_field: roles", "roles_field: roles", {"schemas/user.json": user})
    assert "'roles' must be an array of strings" in errors


def test_a_roles_field_that_users_could_change_themselves_is_refused(write_spec):
    errors = check_errors(write_spec, "protected: [email, google_id, roles]", "protected: [email, google_id]")
    assert "'roles' must also be listed in `protected`" in errors


def test_a_roles_field_outside_the_users_resource_is_refused(write_spec):
    errors = check_errors(write_spec, "  users:\n", "  people:\n")
    assert "resources.people.roles_field: only the 'users' resource holds users' roles" in errors
