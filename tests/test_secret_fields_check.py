"""`resource-engine check` refuses `writeOnly` where a secret cannot be honoured, with file:line:col."""

from __future__ import annotations

import pytest

from engine.spec import SpecError, load_spec

ID = {"type": "string", "format": "uuid"}
SECRETS = {"type": "object", "writeOnly": True, "additionalProperties": {"type": "string"}}


@pytest.fixture(autouse=True)
def in_spec_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    return raised.value.errors


def vaults(write_spec, schema_of, properties, yaml_extra: str = ""):
    return write_spec(
        "version: 1\nresources:\n  vaults:\n    schema: schemas/vault.json\n" + yaml_extra,
        {"schemas/vault.json": schema_of({"id": ID, **properties})},
    )


def test_strings_and_objects_of_strings_are_accepted(write_spec, schema_of):
    spec = load_spec(
        str(vaults(write_spec, schema_of, {"token": {"type": "string", "writeOnly": True}, "keys": SECRETS}))
    )

    assert [f.name for f in spec.resources["vaults"].fields.values() if f.write_only] == ["token", "keys"]


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "integer", "writeOnly": True},
        {"type": "array", "items": {"type": "string"}, "writeOnly": True},
        {"type": "object", "writeOnly": True},
        {"type": "object", "writeOnly": True, "additionalProperties": {"type": "object"}},
        {"type": "string", "format": "uuid", "writeOnly": True},
    ],
)
def test_a_type_that_cannot_be_encrypted_is_refused_at_the_keyword(write_spec, schema_of, prop):
    (error,) = errors_of(vaults(write_spec, schema_of, {"pin": prop}))

    assert error.startswith("schemas/vault.json:")
    assert "properties.pin.writeOnly: writeOnly property 'pin' must " in error and "string" in error


def test_an_enum_and_a_plain_default_are_refused(write_spec, schema_of):
    props = {
        "level": {"enum": ["low", "high"], "writeOnly": True},
        "token": {"type": "string", "writeOnly": True, "default": "changeme"},
    }
    errors = errors_of(vaults(write_spec, schema_of, props))

    assert any("'level' cannot be an enum" in e for e in errors)
    assert any("'token' cannot have a default" in e for e in errors)


@pytest.mark.parametrize(
    ("yaml_extra", "where", "message"),
    [
        ("    primary_key: token\n", "resources.yaml:5:18: resources.vaults.primary_key", "the primary key 'token'"),
        ("    owner: token\n", "resources.yaml:5:12: resources.vaults.owner", "the owner field 'token'"),
        ("    unique: [[token]]\n", "resources.yaml:5:15: resources.vaults.unique[0][0]", "cannot be in a unique key"),
        ("    indexes: [[-token]]\n", "resources.yaml:5:16: resources.vaults.indexes[0][0]", "cannot be in an index"),
    ],
)
def test_a_use_that_needs_the_plain_value_is_refused_where_it_is_written(
    write_spec, schema_of, yaml_extra, where, message
):
    errors = errors_of(vaults(write_spec, schema_of, {"token": {"type": "string", "writeOnly": True}}, yaml_extra))

    assert any(e.startswith(where) and message in e for e in errors), errors


def test_a_secret_cannot_be_a_reference_or_matched_by_an_access_rule(write_spec, schema_of):
    spec = write_spec(
        """
        version: 1
        resources:
          users:
            schema: schemas/user.json
          teams:
            schema: schemas/team.json
            relations:
              members: {through: members, key: team_id, other: user_id}
            access:
              read: [{relation: members, where: {code: [a]}}]
          members:
            schema: schemas/member.json
            references:
              team_id: {resource: teams}
              user_id: {resource: users}
        """,
        {
            "schemas/user.json": schema_of({"id": {"type": "string", "writeOnly": True}}),
            "schemas/team.json": schema_of({"id": ID}),
            "schemas/member.json": schema_of(
                {
                    "id": ID,
                    "team_id": ID,
                    "user_id": {"type": "string", "writeOnly": True},
                    "code": {"type": "string", "writeOnly": True},
                }
            ),
        },
    )
    errors = errors_of(spec)

    assert any("resources.users.primary_key" in e for e in errors) or any(
        "'id' cannot be writeOnly" in e for e in errors
    )
    assert any(e.startswith("resources.yaml:15:") and "'user_id' cannot be a reference" in e for e in errors), errors
    assert any("access.read[0].where.code: writeOnly field 'code' cannot be matched on" in e for e in errors), errors


def test_the_secrets_plugin_cannot_be_disabled_while_a_schema_has_a_secret(write_spec, schema_of):
    path = vaults(
        write_spec, schema_of, {"token": {"type": "string", "writeOnly": True}}, "plugins:\n  disabled: [secrets]\n"
    )

    (error,) = errors_of(path)

    assert error.startswith("resources.yaml:6:14: plugins.disabled[0]: the secrets plugin encrypts writeOnly fields")
