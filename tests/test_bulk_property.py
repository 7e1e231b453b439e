"""Property: a bulk create or a batch of random valid and invalid items stores and emits an event
for every item, or stores nothing and emits nothing; never a 5xx.

Invalid items are drawn from what a single create refuses: an empty or too long name, a status
outside the enum, a read-only or unknown field, another user's owner value, a value of the wrong
type, an item that is not an object, and an item a before_write hook refuses (409).
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from load.bridge import check_property

from engine.kernel.hooks import hookimpl
from engine.plugin import Conflict

TOOLS = st.lists(st.builds(lambda n: {"name": n}, st.sampled_from(["search", "calc", "mail"])), max_size=3)
VALID = st.builds(
    lambda name, status, tools: {
        "name": name,
        **({"status": status} if status else {}),
        **({"tools": tools} if tools is not None else {}),
    },
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
    st.sampled_from([None, "draft", "active", "paused", "archived"]),
    st.one_of(st.none(), TOOLS),
)
INVALID = st.sampled_from(
    [
        {"name": ""},
        {"name": "x" * 201},
        {"name": "a", "status": "bogus"},
        {"name": "a", "id": "8d0c5a6e-4c1e-4a55-9a53-3b0d8c9f4a10"},
        {"name": "a", "colour": "red"},
        {"name": "a", "user_id": "mallory"},
        {"name": 7},
        {"status": "draft"},
        "not an object",
        {"name": "refused by a hook"},
    ]
)
ITEMS = st.lists(st.one_of(VALID, VALID, VALID, INVALID), min_size=1, max_size=30)


class RefuseByName:
    @hookimpl
    def before_write(self, resource, action, data):
        if resource.name == "agents" and action == "create" and data.get("name") == "refused by a hook":
            raise Conflict("this name is refused")


def _looks_valid(item) -> bool:
    return (
        isinstance(item, dict)
        and set(item) <= {"name", "status", "tools"}
        and isinstance(item.get("name"), str)
        and 1 <= len(item["name"]) <= 200
        and item["name"] != "refused by a hook"
        and item.get("status", "draft") in ("draft", "active", "paused", "archived")
    )


async def reset(api) -> None:
    await api.sql("delete from agents")
    await api.sql("delete from _engine_events where resource = 'agents'")


async def stored(api) -> tuple[list[str], list[str]]:
    rows = await api.sql("select id::text, name from agents order by created_at, id")
    events = await api.sql("select record_id from _engine_events where resource = 'agents' and action = 'created'")
    return sorted(r[0] for r in rows), sorted(r[0] for r in events)


async def check_all_or_nothing(api, answer, items, data) -> None:
    ids, events = await stored(api)
    assert answer.status < 500, answer.text
    if all(_looks_valid(i) for i in items):
        assert answer.status in (200, 201), (items, answer.text)
        assert [r["name"] for r in data(answer)] == [i["name"] for i in items]
        assert [r["tools"] for r in data(answer)] == [i.get("tools", []) for i in items]
        assert ids == events == sorted(r["id"] for r in data(answer))
    else:
        assert answer.status in (409, 422), (items, answer.text)
        assert ids == events == []


@pytest.mark.parametrize("engine_plugins", [[RefuseByName()]])
async def test_a_bulk_create_stores_and_emits_every_item_or_nothing(api):
    alice = await api.as_user("alice")

    async def check(items) -> None:
        await reset(api)
        answer = await alice.post("/api/agents", json=items)
        await check_all_or_nothing(api, answer, items, lambda a: a.json["data"])

    print(f"{await check_property(ITEMS, check)} bulk creates")


@pytest.mark.parametrize("engine_plugins", [[RefuseByName()]])
async def test_a_batch_stores_and_emits_every_operation_or_nothing(api):
    alice = await api.as_user("alice")

    async def check(items) -> None:
        await reset(api)
        ops = [{"method": "POST", "path": "/api/agents", "body": item} for item in items]
        answer = await alice.post("/api/batch", json={"operations": ops})
        if answer.status == 400:  # a body that is not an object: refused before anything ran
            assert any(not isinstance(i, dict) for i in items) and await stored(api) == ([], [])
            return
        await check_all_or_nothing(api, answer, items, lambda a: [r["body"]["data"] for r in a.json["results"]])

    print(f"{await check_property(ITEMS, check)} batches")
