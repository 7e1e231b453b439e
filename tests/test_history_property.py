"""Property: restoring version n of an agent reproduces exactly the readable fields version n holds.

Hypothesis draws a create and a run of PATCHes (any subset of the writable fields, each version a
different state), then a sequence of versions to restore; after each restore the row, as its owner
reads it, must equal version n's data in every field but `updated_at` (the restore is a new change).
`status` stays out of the drawn fields: the example app's status moves are a domain rule a restore
obeys like any update (tests/test_history.py checks that refusal).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PROOF_EXAMPLES", 30))
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
FIELDS = {
    "name": TEXT,
    "system_prompt": TEXT,
    "parameters": st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.floats(0, 2, allow_nan=False),
            "max_tokens": st.integers(1, 1_000_000),
            "model": TEXT,
        },
    ),
    "tools": st.lists(
        st.fixed_dictionaries({"name": TEXT}, optional={"config": st.dictionaries(TEXT, TEXT)}), max_size=3
    ),
}


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    """Hundreds of requests from one caller: a rate limit that never says no (it still runs)."""
    return {**engine_env, "ENGINE_RATE_LIMIT": "100000000/second"}


@st.composite
def histories(draw: Any) -> dict[str, Any]:
    created = {"name": draw(TEXT)}
    if draw(st.booleans()):  # an agent without a system prompt: restoring to it must clear the prompt
        created["system_prompt"] = draw(TEXT)
    patches = draw(
        st.lists(
            st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, unique=True).flatmap(
                lambda names: st.fixed_dictionaries({n: FIELDS[n] for n in names})
            ),
            min_size=1,
            max_size=5,
        )
    )
    restores = draw(st.lists(st.integers(1, len(patches) + 1), min_size=1, max_size=3))
    return {"created": created, "patches": patches, "restores": restores}


async def check(alice, drawn: dict[str, Any]) -> list[str]:
    created = await alice.post("/api/agents", json=drawn["created"])
    assert created.status == 201, created.text
    location = created.headers["Location"]
    for patch in drawn["patches"]:
        patched = await alice.patch(location, json=patch)
        assert patched.status == 200, patched.text
    problems = []
    for n in drawn["restores"]:
        version = (await alice.get(f"{location}/versions/{n}")).json["data"]["data"]
        restored = await alice.post(f"{location}/versions/{n}/restore")
        assert restored.status == 200, restored.text
        row = (await alice.get(location)).json["data"]
        expected = {k: v for k, v in version.items() if k != "updated_at"}
        got = {k: v for k, v in row.items() if k in expected}
        if got != expected or set(row) - {"updated_at", "secrets"} != set(expected):
            problems.append(f"restore of version {n}: expected {expected!r}, the row reads {row!r}")
    return problems


async def test_restoring_version_n_reproduces_its_readable_fields(api):
    alice = await api.as_user("alice")
    loop = asyncio.get_running_loop()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(histories())
    def prop(drawn: dict[str, Any]) -> None:
        problems = asyncio.run_coroutine_threadsafe(check(alice, drawn), loop).result(timeout=120)
        assert not problems, "\n".join(problems)

    await loop.run_in_executor(None, prop)
