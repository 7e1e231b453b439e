"""A schema whose fields depend on each other validates an update as the stored row with the patch
merged in: the patch alone may lack a field the rule needs that the row already has."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine_spec_path(write_spec, schema_of) -> str:
    schema = schema_of({"id": {"type": "string", "format": "uuid", "readOnly": True}, "user_id": {"type": "string"}})
    schema["properties"].update({"start": {"type": "integer"}, "end": {"type": "integer"}})
    schema["dependentRequired"] = {"end": ["start"]}
    spec = """
        version: 1
        resources:
          periods:
            schema: schemas/period.json
            owner: user_id
    """
    return str(write_spec(spec, {"schemas/period.json": schema}))


async def test_a_patch_may_rely_on_a_field_the_stored_row_has(api):
    alice = await api.as_user("alice")
    location = (await alice.post("/api/periods", json={"start": 1})).headers["Location"]

    response = await alice.patch(location, json={"end": 5})

    assert response.status == 200, response.text
    assert (response.json["data"]["start"], response.json["data"]["end"]) == (1, 5)


async def test_a_patch_the_merged_row_breaks_the_rule_with_is_a_422(api):
    alice = await api.as_user("alice")
    location = (await alice.post("/api/periods", json={})).headers["Location"]

    response = await alice.patch(location, json={"end": 5})

    assert response.status == 422
    assert [e["path"] for e in response.json["errors"]] == ["/start"]
