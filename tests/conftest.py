"""Shared fixtures live in engine.testing (a pytest plugin); these are small helpers for this suite."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engine.http.keys import CONFIG
from engine.testing import ServingTestServer

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "request_id"}
_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """A temporary root of this run's own: pytest's shared /tmp/pytest-of-<user> rotation removes the
    directories of other runs on the same machine, which then fail their tmp_path setup (a warning,
    and warnings are errors here). Removed again when the run ends."""
    if config.option.basetemp is None:
        config.option.basetemp = config.stash[_OWN_BASETEMP] = tempfile.mkdtemp(prefix="pytest-resource-engine-")
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput") and os.geteuid() == 0:
        _create_pgserver_user()


@pytest.fixture(autouse=True)
def root_logger_as_found():
    """`serve` run in-process (a start-up a test expects to refuse) installs the engine's log handler
    and level on the root logger: the worker's next test starts from the logger this one found."""
    root = logging.getLogger()
    level, found = root.level, set(root.handlers)
    yield
    root.setLevel(level)
    for handler in [h for h in root.handlers if h.get_name() == "resource-engine" and h not in found]:
        root.removeHandler(handler)
        handler.close()


def _create_pgserver_user() -> None:
    """As root, pgserver runs PostgreSQL as its own system user, which it creates (useradd) when it
    first starts a server. With xdist (-n) every worker starts its embedded server at once, and two
    useradds race: one fails. So the controller creates the user before the workers start."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as engine/db/embedded.py: pgserver's imports warn
        from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


def check_problem(result: Any, status: int) -> dict[str, Any]:
    """Assert `result` is an RFC 9457 problem with `status`; returns its body."""
    assert result.status == status, result.text
    assert result.headers["Content-Type"].startswith("application/problem+json")
    body = result.json
    assert PROBLEM_MEMBERS <= set(body), body
    assert body["status"] == status
    assert body["request_id"] == result.headers["X-Request-ID"]
    return body


@pytest.fixture
def expect_problem() -> Callable[[Any, int], dict[str, Any]]:
    return check_problem


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write resources.yaml (dedented) and schema files into tmp_path; returns the YAML's path."""

    def write(yaml_text: str, schemas: dict[str, Any] | None = None) -> Path:
        for name, schema in (schemas or {}).items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(schema if isinstance(schema, str) else json.dumps(schema, indent=2))
        spec = tmp_path / "resources.yaml"
        spec.write_text(textwrap.dedent(yaml_text).lstrip("\n"))
        return spec

    return write


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A draft 2020-12 resource schema with these properties."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": required or [],
        "properties": properties,
    }


@pytest.fixture
def schema_of() -> Callable[..., dict[str, Any]]:
    return object_schema


@pytest.fixture
def start_app(engine_spec, engine_env, engine_database_url, engine_schema) -> Callable[..., Any]:
    """Start (and stop) the app with these plugins as `resource-engine serve` would, without serving:
    what its start-up raises reaches the test."""
    from aiohttp import web

    from engine.http.app import create_app
    from engine.kernel.config import Config

    async def start(plugins: list[Any]) -> None:
        config = Config.from_env(
            engine_spec, env=engine_env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
        )
        runner = web.AppRunner(create_app(engine_spec, config, plugins=plugins))
        try:
            await runner.setup()
        finally:
            await runner.cleanup()

    return start


@pytest.fixture
def redis_server():
    """A redis-server of the test's own on a free port, for tests that stop or partition it."""
    from load.redis_server import ThrowawayRedis

    redis = ThrowawayRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.close()


# TEST_PGBOUNCER=1 runs every suite that uses the `api` fixture through a PgBouncer in transaction
# pooling mode (the CRUD, events and fault suites in .ci/run): the app's DATABASE_URL is an alias of
# a session-wide pgbouncer, the pooler is detected, and LISTEN uses the direct URL.
THROUGH_PGBOUNCER = os.environ.get("TEST_PGBOUNCER", "") not in ("", "0")


@pytest.fixture(scope="session")
def pgbouncer():
    """PgBouncer (transaction pooling) of this run's own, in front of the test database whether it is
    on TCP or the embedded server's Unix socket; skips when Debian's pgbouncer is missing."""
    from load.pgbouncer import PgBouncers, available

    if not available():
        pytest.skip("pgbouncer is not installed: run .ci/install-test-deps")
    bouncer = PgBouncers()
    try:
        yield bouncer
    finally:
        bouncer.close()


@pytest.fixture
async def engine_app(engine_app, engine_database_url, engine_schema, request):
    """engine.testing's app; with TEST_PGBOUNCER, the same app with its DATABASE_URL through PgBouncer
    (the app reads the URL only when it starts, so swapping the config before then is enough)."""
    if not THROUGH_PGBOUNCER:
        yield engine_app
        return
    bouncer = request.getfixturevalue("pgbouncer")
    engine_app[CONFIG] = dataclasses.replace(
        engine_app[CONFIG],
        database_url=bouncer.add(engine_schema, engine_database_url, engine_schema),
        listen_database_url=engine_database_url,
    )
    yield engine_app
    bouncer.remove(engine_schema)


@pytest.fixture
def aiohttp_client(aiohttp_client):
    """pytest-aiohttp's client factory, serving an app as production does (engine.testing.ServingTestServer)."""

    async def serve(app_or_server, **kwargs):
        if isinstance(app_or_server, web.Application):
            app_or_server = ServingTestServer(app_or_server)
        return await aiohttp_client(app_or_server, **kwargs)

    return serve


def pytest_asyncio_loop_factories(config, item):
    """Tests run on uvloop, as `resource-engine serve` and the gunicorn workers do; a test of
    asyncio's own loop says so with `@pytest.mark.asyncio_loop`."""
    if item.get_closest_marker("asyncio_loop"):
        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"uvloop": uvloop.new_event_loop}
