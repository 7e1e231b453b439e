"""A canary for the asyncpg private parts the engine's pool relies on (engine/db/asyncpg_internals.py).

When an asyncpg release renames, removes or reshapes one of them, these tests fail naming it, and the
engine refuses to start with the same name, instead of a pool that silently loses its fair hand-off,
its bounded wait or its release without a reset round trip.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import asyncpg
import asyncpg.pool
import pytest
from packaging.requirements import Requirement

from engine.db import asyncpg_internals as internals
from engine.db.pool import create_pool

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.mark.parametrize("name", list(internals.RELIED_ON))
def test_asyncpg_still_has_each_private_part_the_pool_relies_on(name):
    changed = f"asyncpg {asyncpg.__version__} changed {name}: see engine/db/asyncpg_internals.py"
    assert internals.RELIED_ON[name](), changed


def test_every_relied_on_part_is_listed_in_the_module_docstring():
    for name in internals.RELIED_ON:
        attribute = name.split("(")[0].split(", ")[0].rsplit(".", 1)[-1]
        assert attribute in internals.__doc__, f"{name} is checked but not explained in the module docstring"


def test_asyncpg_is_pinned_with_an_upper_bound_that_the_installed_version_is_inside():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pin = next(Requirement(line) for line in dependencies if Requirement(line).name == "asyncpg")

    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in pin.specifier), f"{pin} has no upper bound"
    assert pin.specifier.contains(version("asyncpg")), f"asyncpg {version('asyncpg')} is outside {pin}"


async def test_a_missing_method_stops_the_pool_from_starting_and_is_named(monkeypatch):
    monkeypatch.delattr(asyncpg.Connection, "_on_release")

    with pytest.raises(internals.AsyncpgInternalsChanged, match=r"asyncpg\.Connection\._on_release\(\)"):
        await create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=1, max_size=1, statement_timeout_ms=1000)


def test_a_missing_slot_is_named(monkeypatch):
    monkeypatch.delattr(asyncpg.pool.PoolConnectionHolder, "_timeout")

    with pytest.raises(internals.AsyncpgInternalsChanged) as refused:
        internals.check()

    assert refused.value.names == ["asyncpg.pool.PoolConnectionHolder._timeout"]
    assert asyncpg.__version__ in str(refused.value)


def test_a_changed_signature_is_named(monkeypatch):
    async def acquire(self, deadline):  # the parameter asyncpg's acquire takes, renamed
        raise AssertionError("never called")

    monkeypatch.setattr(asyncpg.pool.Pool, "_acquire", acquire)

    assert internals.missing() == ["asyncpg.pool.Pool._acquire(timeout)"]


async def test_the_engine_pool_opens_with_every_free_connection_in_the_fair_queue(engine_database_url):
    pool = await create_pool(engine_database_url, min_size=1, max_size=3, statement_timeout_ms=10_000)
    try:
        assert type(pool._queue) is internals.FairHolderQueue
        assert pool._queue.qsize() == 3
        async with pool.acquire() as conn:
            assert await conn.fetchval("select 1") == 1
            assert pool._queue.qsize() == 2
        assert pool._queue.qsize() == 3
    finally:
        await pool.close()


class ReleaseBudgets:
    """The budget each asyncpg holder release was given (the real release runs)."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[float | None] = []
        release = asyncpg.pool.PoolConnectionHolder.release

        async def spy(holder, timeout):  # noqa: ASYNC109 (asyncpg's signature)
            self.seen.append(timeout)
            return await release(holder, timeout)

        monkeypatch.setattr(asyncpg.pool.PoolConnectionHolder, "release", spy)


@pytest.fixture
async def bounded_pool(engine_database_url):
    """The engine's pool of two, its acquire (and so its release) bounded at 5 s."""
    pool = await create_pool(engine_database_url, min_size=1, max_size=2, statement_timeout_ms=10_000)
    pool.bound_wait(5.0, TimeoutError)
    try:
        yield pool
    finally:
        await pool.close()


async def test_an_idle_connection_goes_back_without_arming_a_release_timeout(bounded_pool, monkeypatch):
    """Nothing in its release can suspend, so the acquire bound would only arm and cancel a timer."""
    budgets = ReleaseBudgets(monkeypatch)
    async with bounded_pool.acquire() as conn:
        assert await conn.fetchval("select 1") == 1
    assert budgets.seen == [None] and bounded_pool._queue.qsize() == 2


async def test_an_expired_connection_is_closed_within_the_acquire_bound(bounded_pool, monkeypatch):
    budgets = ReleaseBudgets(monkeypatch)
    async with bounded_pool.acquire() as conn:
        held = conn._con
        await bounded_pool.expire_connections()  # the release closes it
    assert budgets.seen == [5.0] and held.is_closed()
