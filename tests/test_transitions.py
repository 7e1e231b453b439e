"""`transitions:` declares the moves a field's value may make on update: any other change is a 409
that names the allowed moves, on every write path (one statement, If-Match, bulk, PUT), and the
spec loader refuses moves that could never be made."""

from __future__ import annotations

import asyncio

import pytest

from engine.spec import SpecError, load_spec

SPEC = """
version: 1
resources:
  orders:
    schema: order.json
    owner: owner_id
    transitions:
      state:
        placed: [paid, cancelled]
        paid: [shipped, cancelled]
        shipped: []
        cancelled: []
"""
ORDER = {
    "id": {"type": "string", "format": "uuid", "readOnly": True},
    "owner_id": {"type": "string"},
    "item": {"type": "string"},
    "state": {"enum": ["placed", "paid", "shipped", "cancelled"], "default": "placed"},
}


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, {"order.json": schema_of(ORDER, ["item"])}))


async def an_order(client, **values) -> str:
    created = await client.post("/api/orders", json={"item": "book", **values})
    assert created.status == 201, created.text
    return created.json["data"]["id"]


async def stored_state(api, order_id: str) -> str:
    (row,) = await api.sql("select state from orders where id = $1", order_id)
    return row["state"]


async def test_a_declared_move_is_made(api):
    alice = await api.as_user("alice")
    order_id = await an_order(alice)
    moved = await alice.patch(f"/api/orders/{order_id}", json={"state": "paid"})
    assert moved.status == 200, moved.text
    assert moved.json["data"]["state"] == "paid"


async def test_a_move_not_declared_is_a_409_naming_the_allowed_moves(api, expect_problem):
    alice = await api.as_user("alice")
    order_id = await an_order(alice)
    body = expect_problem(await alice.patch(f"/api/orders/{order_id}", json={"state": "shipped"}), 409)
    assert body["detail"] == (
        "orders: state cannot move from placed to shipped; from placed it may move to paid, cancelled"
    )
    assert (body["current_state"], body["requested_state"], body["allowed_moves"]) == (
        "placed",
        "shipped",
        ["paid", "cancelled"],
    )


async def test_a_refused_move_changes_nothing(api, expect_problem):
    alice = await api.as_user("alice")
    order_id = await an_order(alice)
    expect_problem(await alice.patch(f"/api/orders/{order_id}", json={"state": "shipped", "item": "pen"}), 409)
    (row,) = await api.sql("select state, item from orders where id = $1", order_id)
    assert (row["state"], row["item"]) == ("placed", "book")


async def test_a_final_state_says_so(api, expect_problem):
    alice = await api.as_user("alice")
    order_id = await an_order(alice, state="cancelled")
    body = expect_problem(await alice.patch(f"/api/orders/{order_id}", json={"state": "paid"}), 409)
    assert body["detail"].endswith("from cancelled it may move to nothing: cancelled is final")
    assert body["allowed_moves"] == []


async def test_keeping_the_value_is_always_allowed(api):
    alice = await api.as_user("alice")
    order_id = await an_order(alice, state="shipped")
    kept = await alice.patch(f"/api/orders/{order_id}", json={"state": "shipped", "item": "pen"})
    assert kept.status == 200, kept.text
    assert kept.json["data"]["item"] == "pen"


async def test_a_create_starts_in_any_state_the_schema_allows(api):
    alice = await api.as_user("alice")
    assert await stored_state(api, await an_order(alice, state="shipped")) == "shipped"


async def test_an_update_that_reads_the_row_first_is_refused_alike(api, expect_problem):
    alice = await api.as_user("alice")
    order_id = await an_order(alice)
    etag = (await alice.get(f"/api/orders/{order_id}")).headers["ETag"]
    patched = await alice.patch(f"/api/orders/{order_id}", json={"state": "shipped"}, headers={"If-Match": etag})
    assert expect_problem(patched, 409)["allowed_moves"] == ["paid", "cancelled"]
    assert await stored_state(api, order_id) == "placed"


async def test_a_put_that_replaces_the_row_obeys_the_moves(api, expect_problem):
    alice = await api.as_user("alice")
    order_id = await an_order(alice)
    replaced = await alice.put(f"/api/orders/{order_id}", json={"item": "book", "state": "shipped"})
    expect_problem(replaced, 409)
    assert await stored_state(api, order_id) == "placed"


async def test_a_bulk_update_with_one_refused_move_changes_no_row(api, expect_problem):
    alice = await api.as_user("alice")
    placed, paid = await an_order(alice), await an_order(alice, state="paid")
    expect_problem(await alice.patch("/api/orders?item=book", json={"state": "shipped"}), 409)
    assert (await stored_state(api, placed), await stored_state(api, paid)) == ("placed", "paid")


async def test_two_concurrent_moves_from_one_state_cannot_both_pass(api):
    """paid -> shipped and paid -> cancelled at once: both are declared, but whichever commits
    second starts from the first's final state."""
    alice = await api.as_user("alice")
    for _ in range(5):
        order_id = await an_order(alice, state="paid")
        results = await asyncio.gather(
            alice.patch(f"/api/orders/{order_id}", json={"state": "shipped"}),
            alice.patch(f"/api/orders/{order_id}", json={"state": "cancelled"}),
        )
        assert sorted(r.status for r in results) == [200, 409], [r.text for r in results]


async def test_the_patch_body_documents_the_moves(api):
    document = (await api.anonymous.get("/openapi.json")).json
    state = document["components"]["schemas"]["OrdersUpdate"]["properties"]["state"]
    assert state["x-transitions"]["placed"] == ["paid", "cancelled"]
    assert "state changes only by these moves" in state["description"]
    assert "shipped -> nothing (final)" in state["description"]


# --- the spec loader ------------------------------------------------------------------------------


def errors_of(write_spec, schema_of, transitions: str, properties: dict | None = None) -> list[str]:
    """The spec's errors with `transitions` (YAML, indented under `transitions:`) in place of SPEC's."""
    spec = SPEC[: SPEC.index("      state:")] + transitions + "\n"
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(spec, {"order.json": schema_of(properties or ORDER, ["item"])})))
    return raised.value.errors


def test_a_move_to_a_state_not_listed_is_refused(write_spec, schema_of):
    (error,) = errors_of(
        write_spec,
        schema_of,
        "      state: {placed: [paid], paid: [refunded]}",
        {**ORDER, "state": {"type": "string", "default": "placed"}},
    )
    assert "orders.transitions.state.paid" in error and "'refunded' is not one of the states listed" in error


def test_an_enum_value_without_moves_is_refused(write_spec, schema_of):
    (error,) = errors_of(write_spec, schema_of, "      state: {placed: [paid], paid: []}")
    assert "list each value of 'state''s enum, with [] if final; missing: ['shipped', 'cancelled']" in error


def test_a_state_outside_the_enum_is_refused(write_spec, schema_of):
    transitions = "      state: {placed: [paid], paid: [], shipped: [], cancelled: [], lost: []}"
    (error,) = errors_of(write_spec, schema_of, transitions)
    assert "'lost' is not a value of 'state''s enum" in error


def test_a_field_that_is_not_a_property_is_refused(write_spec, schema_of):
    (error,) = errors_of(write_spec, schema_of, "      stage: {a: []}")
    assert "'stage' is not a property of the schema" in error


def test_a_field_that_may_be_null_is_refused(write_spec, schema_of):
    properties = {**ORDER, "state": {"type": "string"}}
    (error,) = errors_of(write_spec, schema_of, "      state: {a: []}", properties)
    assert "make it required or give it a default" in error


def test_a_field_that_is_not_a_string_is_refused(write_spec, schema_of):
    properties = {**ORDER, "level": {"type": "integer", "default": 1}}
    (error,) = errors_of(write_spec, schema_of, "      level: {a: []}", properties)
    assert "'level' must be a string" in error


def test_the_plugin_cannot_be_disabled_while_moves_are_declared(write_spec, schema_of):
    spec = write_spec(
        SPEC.replace("version: 1\n", "version: 1\nplugins: {disabled: [transitions]}\n"),
        {"order.json": schema_of(ORDER, ["item"])},
    )
    with pytest.raises(SpecError) as raised:
        load_spec(str(spec))
    assert any("the transitions plugin serves `transitions:` (orders)" in e for e in raised.value.errors)
