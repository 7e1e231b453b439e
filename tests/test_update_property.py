"""Property: an update of one statement answers, stores, emits and versions exactly what an update
that reads the row first does, for random patches, valid and invalid, from every status.

Each example creates two identical agents and sends the same PATCH to both: plainly (one
statement, the status rule folded in as a condition) and with the row's ETag as If-Match (the row
read first, the rule checked in Python). Nothing may tell the two apart but the row's id.
"""

from __future__ import annotations

from hypothesis import strategies as st
from load.bridge import check_property

STATUSES = ["draft", "active", "paused", "archived"]


def mostly(valid: st.SearchStrategy, *invalid: object) -> st.SearchStrategy:
    """Valid values three times in four: a patch with one bad field is refused whole."""
    return st.one_of(valid, valid, valid, st.sampled_from(invalid))


FIELDS = {
    "name": mostly(st.text(min_size=1, max_size=12), "", "x" * 201, 7, None),
    "system_prompt": mostly(st.text(max_size=12), None, 3),
    "status": mostly(st.sampled_from(STATUSES), "bogus", None),
    "parameters": mostly(
        st.fixed_dictionaries({}, optional={"temperature": st.sampled_from([0, 0.5, 2]), "model": st.text(max_size=4)}),
        None,
        [],
        {"temperature": 3},
    ),
    "tools": mostly(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["search", "calc"])}), max_size=2), [{}]),
}
PATCHES = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS),
    st.fixed_dictionaries(  # a move, often refused
        {"status": st.sampled_from(STATUSES)}, optional={k: v for k, v in FIELDS.items() if k != "status"}
    ),
    st.fixed_dictionaries({"colour": st.just("red")}),  # not a field
    st.fixed_dictionaries({"created_at": st.just("2026-01-01T00:00:00Z")}),  # read-only
)
EXAMPLES = st.tuples(st.sampled_from(STATUSES), PATCHES)
MOVING = ("id", "created_at", "updated_at")


async def outcome(api, answer, agent: str) -> tuple:
    """What a client and a reader of the events and history can observe of one PATCH."""
    events = await api.sql("select changes from _engine_events where record_id = $1 and action = 'updated'", agent)
    versions = await api.sql(
        "select action, data - 'id' - 'created_at' - 'updated_at' from agents_history"
        " where record_id = $1 order by version",
        agent,
    )
    [row] = await api.sql("select name, system_prompt, status, parameters, tools from agents where id = $1", agent)
    body = answer.json
    if answer.status == 200:
        body = {k: v for k, v in body["data"].items() if k not in MOVING}
    else:
        body = {k: v for k, v in body.items() if k != "request_id"}
    return answer.status, body, [e["changes"] for e in events], [tuple(v) for v in versions], tuple(row)


async def test_one_statement_and_read_first_updates_cannot_be_told_apart(api):
    alice = await api.as_user("alice")

    async def check(example) -> None:
        status, patch = example
        await api.sql("delete from agents")
        start = {"name": "Helper", "status": status, "parameters": {"temperature": 1}, "tools": [{"name": "calc"}]}
        one, other = [(await alice.post("/api/agents", json=start)).json["data"]["id"] for _ in range(2)]
        etag = (await alice.get(f"/api/agents/{other}")).headers["ETag"]

        plain = await alice.patch(f"/api/agents/{one}", json=patch)
        read_first = await alice.patch(f"/api/agents/{other}", json=patch, headers={"If-Match": etag})

        assert plain.status < 500, plain.text
        assert await outcome(api, plain, one) == await outcome(api, read_first, other), patch

    print(f"{await check_property(EXAMPLES, check)} patches")
