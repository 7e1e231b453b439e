"""A resource of more than fifty fields works on every route, its events included.

PostgreSQL refuses a function call of more than 100 arguments; an event's payload is built in the
write's own statement (engine.features.events.inline), one name and one value per field, so it is
built in objects of at most fifty fields joined together."""

from __future__ import annotations

import pytest
from events_support import event_rows

FIELDS = 120
SPEC = """
version: 1
resources:
  forms:
    schema: form.json
    owner: owner_id
    events:
      emit: [created, updated, deleted]
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
"""


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    answers = {f"q{i}": {"type": ["string", "null"]} for i in range(FIELDS)}
    form = schema_of(
        {"id": {"type": "string", "format": "uuid", "readOnly": True}, "owner_id": {"type": "string"}, **answers}
    )
    return str(write_spec(SPEC, {"form.json": form}))


def filled(tag: str) -> dict[str, str]:
    return {f"q{i}": f"{tag}{i}" for i in range(FIELDS)}


async def test_a_wide_row_is_created_read_listed_and_its_event_carries_every_field(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/forms", json=filled("a"))
    assert created.status == 201, created.text
    form = created.json["data"]["id"]
    assert (await alice.get(f"/api/forms/{form}")).json["data"]["q119"] == "a119"
    assert [r["q0"] for r in (await alice.get("/api/forms?q5=a5")).json["data"]] == ["a0"]
    (event,) = await event_rows(api)
    assert (event["action"], event["record_id"]) == ("created", form)
    assert event["data"] == created.json["data"]


async def test_a_wide_row_is_updated_and_its_event_names_each_change(api):
    alice = await api.as_user("alice")
    form = (await alice.post("/api/forms", json=filled("a"))).json["data"]["id"]
    updated = await alice.patch(f"/api/forms/{form}", json={"q0": "b0", "q119": "b119"})
    assert updated.status == 200, updated.text
    event = (await event_rows(api))[-1]
    assert event["action"] == "updated"
    assert event["data"] == updated.json["data"]
    assert event["changes"] == {"q0": {"before": "a0", "after": "b0"}, "q119": {"before": "a119", "after": "b119"}}


async def test_wide_rows_are_created_in_bulk_and_deleted(api):
    alice = await api.as_user("alice")
    created = await alice.post("/api/forms", json=[filled("a"), filled("b")])
    assert created.status == 201, created.text
    ids = [row["id"] for row in created.json["data"]]
    assert (await alice.delete(f"/api/forms/{ids[0]}")).status == 204
    events = [(e["action"], e["record_id"]) for e in await event_rows(api)]
    assert events == [("created", ids[0]), ("created", ids[1]), ("deleted", ids[0])]
