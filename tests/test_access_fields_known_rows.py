"""A write that knows who owns the row it writes asks the database nothing about owner-ruled fields.

On test_access_fields' spec a project's `budget` is read by its lead (the owner) or a chief of its
crew. A row the lead creates, or changes under an owner-only update rule, is the lead's: its write
statement carries no read-rule flag for `budget` (Predicate.holds_if / requires), and the answer
still shows it. A row handed to someone else by the write is asked about as written.
"""

from __future__ import annotations

import pytest
from test_access_fields import SPEC, cast, schemas

from engine.http.keys import MANAGERS
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext

HANDED_OVER = "Handed over"


class HandOver:
    """Gives a project whose new title is HANDED_OVER to `out`, as a plugin may add a field before the
    write; it needs no transaction, so writes keep their one-statement paths."""

    @hookimpl
    def write_needs_transaction(self) -> bool:
        return False

    @hookimpl
    async def before_write(self, conn, resource, action, data, previous) -> None:
        if resource.name == "projects" and data and data.get("title") == HANDED_OVER:
            data["lead"] = "out"


@pytest.fixture
def engine_plugins():
    return [HandOver()]


@pytest.fixture
def engine_spec_path(write_spec, schema_of):
    return str(write_spec(SPEC, schemas(schema_of)))


class StatementSpy:
    """The SQL of each row write the manager sends (ResourceManager._write_row)."""

    def __init__(self, monkeypatch, manager) -> None:
        self.sql: list[str] = []
        write_row = manager._write_row

        async def spy(conn, compiled, *args, **kwargs):
            self.sql.append(compiled.sql)
            return await write_row(conn, compiled, *args, **kwargs)

        monkeypatch.setattr(manager, "_write_row", spy)


def lea() -> WriteContext:
    return WriteContext(Identity("lea", frozenset({"user"})))


async def test_a_create_by_the_owner_shows_the_owner_ruled_field_without_asking(api, monkeypatch):
    await cast(api)
    manager = api.app[MANAGERS]["projects"]
    spy = StatementSpy(monkeypatch, manager)
    context = lea()
    row = await manager.create({"title": "Tunnel", "budget": 40}, context)
    assert context.readable == frozenset({"budget"}) and row["budget"] == 40
    assert len(spy.sql) == 1 and "crew" not in spy.sql[0]


async def test_the_owners_create_answer_over_http_shows_the_field(api):
    c = await cast(api)
    created = await c.lea.post("/api/projects", json={"title": "Dam", "budget": 7})
    assert created.status == 201 and created.json["data"]["budget"] == 7


async def test_an_update_under_an_owner_only_rule_shows_the_field_without_asking(api, monkeypatch):
    c = await cast(api)
    manager = api.app[MANAGERS]["projects"]
    spy = StatementSpy(monkeypatch, manager)
    context = lea()
    row = await manager.update(c.project, {"title": "Arch"}, context)
    assert context.readable == frozenset({"budget"}) and row["budget"] == 900
    assert len(spy.sql) == 1 and "crew" not in spy.sql[0]


async def test_a_row_the_write_hands_to_someone_else_is_asked_about_as_written(api):
    c = await cast(api)
    handed = await c.lea.patch(f"/api/projects/{c.project}", json={"title": HANDED_OVER})
    assert handed.status == 200, handed.text
    assert handed.json["data"]["lead"] == "out" and "budget" not in handed.json["data"]
    assert (await c.out.get(f"/api/projects/{c.project}")).json["data"]["budget"] == 900


async def test_a_create_for_someone_else_is_asked_about_as_written(api):
    c = await cast(api)
    created = await c.lea.post("/api/projects", json={"title": HANDED_OVER, "budget": 3})
    assert created.status == 201, created.text
    assert created.json["data"]["lead"] == "out" and "budget" not in created.json["data"]
