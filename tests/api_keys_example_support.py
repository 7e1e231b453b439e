"""The API-key example plugin (tests/plugins/api_keys.py) and the fixtures its test modules share.

A test module takes the fixtures by assigning them (`keys = example.keys`): a fixture imported by
name and then requested by a test's parameter of the same name trips ruff's F811."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType
from typing import Any

import pytest

from engine.testing import ApiClient

HERE = os.path.dirname(__file__)
SPEC_PATH = os.path.join(HERE, "specs", "api_keys", "resources.yaml")


def load_example_plugin() -> ModuleType:
    path = os.path.join(HERE, "plugins", "api_keys.py")
    spec = importlib.util.spec_from_file_location("example_api_keys_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_keys = load_example_plugin()


@pytest.fixture
def engine_spec_path() -> str:
    return SPEC_PATH


@pytest.fixture
def engine_plugins() -> list[Any]:
    return [api_keys]


@pytest.fixture
async def keys(api: Any) -> dict[str, str]:
    """alice and bob, each with a key an operator created (the first key has to come from somewhere)."""
    for user in ("alice", "bob"):
        await api.sql("insert into users (id, email) values ($1, $2)", user, f"{user}@example.test")
        await api.sql(
            "insert into api_keys (user_id, name, key_hash) values ($1, 'bootstrap', $2)",
            user,
            api_keys.hash_key(f"ak_{user}"),
        )
    return {"alice": "ak_alice", "bob": "ak_bob"}


def with_key(api: Any, key: str) -> ApiClient:
    """A client sending `key` in the example plugin's own scheme."""
    return ApiClient(api.client, {"Authorization": f"ApiKey {key}"})
