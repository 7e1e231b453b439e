"""Query-string and path values for uuid columns: any form uuid.UUID accepts, bound in canonical form."""

from __future__ import annotations

import pytest

from engine.resources.values import ValueProblem, from_query

CANONICAL = "3f2c8a1e-5b7d-4c9a-9e21-0a6b4d8f7c15"


@pytest.fixture
def uuid_field(engine_spec):
    return engine_spec.resources["agents"].pk


def test_a_canonical_uuid_is_bound_as_sent(uuid_field):
    assert from_query(uuid_field, CANONICAL) == CANONICAL


@pytest.mark.parametrize("text", [CANONICAL.upper(), "{" + CANONICAL + "}", CANONICAL.replace("-", "")])
def test_other_uuid_forms_become_the_canonical_one(uuid_field, text):
    assert from_query(uuid_field, text) == CANONICAL


@pytest.mark.parametrize("text", ["", "not-a-uuid", CANONICAL[:-1], CANONICAL + "0"])
def test_anything_else_is_a_value_problem(uuid_field, text):
    with pytest.raises(ValueProblem):
        from_query(uuid_field, text)


async def test_a_row_is_found_by_its_id_in_capitals(api):
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    result = await alice.get(f"/api/agents/{agent['id'].upper()}")

    assert result.status == 200 and result.json["data"]["id"] == agent["id"]
