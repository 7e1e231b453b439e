"""Counts on a cached resource are cached like the list they come with, and a write invalidates them.

Spec: tests/specs/protection (tags are cached, readable by anyone).
"""

from __future__ import annotations

import os

import pytest

from engine.features.query_cache.plugin import LISTENER
from engine.features.query_cache.stats import CACHE_STATS

SPEC = os.path.join(os.path.dirname(__file__), "specs", "protection", "resources.yaml")


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC


@pytest.fixture
def engine_env(engine_env: dict[str, str]) -> dict[str, str]:
    return {**engine_env, "ENGINE_RATE_LIMIT": "off"}


async def tag(api, name: str) -> None:
    admin = await api.as_admin()
    assert (await admin.post("/api/tags", json={"name": name})).status == 201
    await api.app[LISTENER].settle()


async def test_a_repeated_count_is_served_from_the_cache(api):
    await tag(api, "one")
    assert (await api.anonymous.get("/api/tags?count=exact")).json["meta"]["total"] == 1
    await api.sql("insert into tags (name) values ('behind the engine')")
    assert (await api.anonymous.get("/api/tags?count=exact")).json["meta"]["total"] == 1
    assert api.app[CACHE_STATS].hits == 1


async def test_a_write_through_the_api_updates_the_next_count(api):
    await tag(api, "one")
    assert (await api.anonymous.get("/api/tags?count=exact")).json["meta"]["total"] == 1
    await tag(api, "two")
    assert (await api.anonymous.get("/api/tags?count=exact")).json["meta"]["total"] == 2


async def test_a_cached_list_without_a_count_never_answers_a_prefer_count(api):
    await tag(api, "one")
    assert "total" not in (await api.anonymous.get("/api/tags")).json["meta"]
    counted = await api.anonymous.get("/api/tags", headers={"Prefer": "count=exact"})
    assert counted.json["meta"]["total"] == 1


async def test_a_cached_answer_to_prefer_count_still_says_the_preference_was_applied(api):
    await tag(api, "one")
    for _ in range(2):
        counted = await api.anonymous.get("/api/tags", headers={"Prefer": "count=exact"})
        assert counted.headers["Preference-Applied"] == "count=exact"
        assert "Prefer" in counted.headers["Vary"]
    assert api.app[CACHE_STATS].hits == 1
