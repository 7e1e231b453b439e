"""pytest fixtures for projects and plugin authors: an app on a throwaway database, and clients.

Installed as a pytest plugin (entry point ``pytest11``), so any project that depends on
resource-engine gets these fixtures:

    async def test_owner_sees_their_agent(api):
        alice = await api.as_user("alice")
        created = await alice.post("/api/agents", json={"name": "Helper"})
        assert created.status == 201

Each test gets its own PostgreSQL schema with the spec's tables, on the server in
TEST_DATABASE_URL or, when that is unset, on an embedded PostgreSQL started once per session (and
thrown away after it, so it runs without fsync).
Override ``engine_spec_path`` to test another resources.yaml, ``engine_env`` for settings,
and ``engine_plugins`` to register extra plugin objects.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.db.pool import connect
from engine.features.jwt_auth.tokens import JwtSettings, issue
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.settings import explicit
from engine.migrations import apply, diff, pending_steps, read_all, spec_model
from engine.spec import Spec, load_spec

TEST_JWT_SECRET = "test-secret-for-resource-engine-tests-only-0123456789"
TEST_SESSION_SECRET = "test-session-secret-for-resource-engine-tests-only-0123456789"
TEST_FIELD_KEYS = "dGVzdC1maWVsZC1rZXktZm9yLXRlc3RzLW9ubHktMDE="  # a Fernet key, for tests only
# Production requires the issuer and audience of access tokens: add these to a production engine_env.
PRODUCTION_TOKEN_CLAIMS = {"ENGINE_JWT_ISSUER": "https://issuer.example.test", "ENGINE_JWT_AUDIENCE": "engine-tests"}


@dataclass
class Result:
    """A finished response: status, headers, and the body already read."""

    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode()


class ApiClient:
    """A test client that sends the same credentials on every request."""

    def __init__(self, client: Any, headers: dict[str, str] | None = None):
        self.client = client
        self.headers = headers or {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Result:
        merged = {**self.headers, **(headers or {})}
        if json is not None:
            data = orjson.dumps(json)
            merged.setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, data=data, headers=merged, **kwargs) as response:
            return Result(response.status, response.headers, await response.read())

    async def get(self, path: str, **kwargs: Any) -> Result:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Result:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Result:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Result:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Result:
        return await self.request("DELETE", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> Result:
        return await self.request("HEAD", path, **kwargs)


class Api:
    """Client factory: ``api.anonymous``, ``await api.as_user("alice")``, ``await api.as_admin()``."""

    def __init__(self, client: Any, spec: Spec, pool_url: str, schema: str, env: dict[str, str]):
        self.client = client
        self.spec = spec
        self.database_url = pool_url
        self.schema = schema
        self.env = env
        self.anonymous = ApiClient(client)

    @property
    def app(self) -> Any:
        return self.client.app

    def token(self, sub: str, roles: tuple[str, ...] | list[str] = (), **claims: Any) -> str:
        development = self.env.get("ENGINE_ENV", "development") != "production"
        settings = JwtSettings.from_env(self.env, development=development, secret_file="")
        return issue(settings, sub, list(roles), **claims)

    def with_token(self, token: str) -> ApiClient:
        return ApiClient(self.client, {"Authorization": f"Bearer {token}"})

    async def as_user(
        self, user_id: str, roles: tuple[str, ...] | list[str] = (), *, create: bool = True, **fields: Any
    ) -> ApiClient:
        """A client for `user_id`; with a `users` resource, its row is created first (as admin)."""
        if create and "users" in self.spec.resources:
            admin = self.with_token(self.token("test-admin", ["admin"]))
            body = {"id": user_id, "email": f"{user_id}@example.test", **fields}
            result = await admin.post("/api/users", json=body)
            if result.status not in (201, 409):
                raise AssertionError(f"could not create user {user_id}: {result.status} {result.text}")
        return self.with_token(self.token(user_id, roles))

    async def as_admin(self, user_id: str = "admin") -> ApiClient:
        return await self.as_user(user_id, ["admin"])

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Run SQL in the test's schema (to check what the API really stored)."""
        conn = await connect(self.database_url, schema=self.schema)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def engine_database_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")  # the test suite's own variable: not an engine setting
    if url:
        yield url
        return
    from engine.db.embedded import start_embedded, stop_embedded  # lazy: pytest loads this plugin everywhere

    with tempfile.TemporaryDirectory(prefix="resource-engine-test-") as directory:
        data_dir = os.path.join(directory, "pgdata")
        try:
            url = start_embedded(data_dir)
            _throwaway(url)
            yield url
        finally:
            stop_embedded(data_dir)  # before the directory goes, or the server outlives the run


def _throwaway(url: str) -> None:
    """The embedded server lives and dies with the test run, so no commit waits for the disk: every
    test's CREATE and DROP of its schema commits (waiting for fsync was about a fifth of an API test's
    time). Never done to a TEST_DATABASE_URL server; the crash tests run servers of their own."""

    async def settle() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER SYSTEM SET fsync = off")
            await conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    # On a thread of its own: this fixture may be set up inside a running loop (getfixturevalue).
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, settle()).result()


@pytest.fixture
async def engine_schema(engine_database_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(engine_database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')  # name is generated above, never user input
    finally:
        await conn.close()
    yield name
    # A fresh connection: fault tests restart the server while the test runs.
    conn = await asyncpg.connect(engine_database_url)
    try:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def engine_spec_path(request: pytest.FixtureRequest) -> str:
    """The project's resources.yaml: ENGINE_SPEC if set, else the one in pytest's root directory
    (so tests run from any folder). Override this fixture to test another spec."""
    configured = explicit("ENGINE_SPEC")
    return os.path.abspath(configured) if configured else str(request.config.rootpath / "resources.yaml")


_SPECS: dict[str, tuple[tuple[str, ...], bytes, Spec]] = {}  # path -> (files read, their digest, the spec)


def _digest(files: tuple[str, ...]) -> bytes | None:
    """One hash of the contents of `files` (None when one is gone)."""
    digest = hashlib.blake2b()
    for name in files:
        try:
            with open(name, "rb") as fh:
                digest.update(fh.read())
        except OSError:
            return None
        digest.update(b"\0")
    return digest.digest()


def shared_spec(path: str) -> Spec:
    """`load_spec(path)`, loaded once while resources.yaml and its schema files keep their contents.

    A spec is immutable (engine.spec.model), so tests share it; parsing the YAML and the schemas
    (with their positions, for error messages) costs a suite's every test tens of milliseconds."""
    path = os.path.abspath(path)
    cached = _SPECS.get(path)
    if cached is not None and _digest(cached[0]) == cached[1]:
        return cached[2]
    spec = load_spec(path)
    files = (path, *sorted({os.path.normpath(os.path.join(spec.root, r.schema_path)) for r in spec.resources.values()}))
    digest = _digest(files)
    if digest is not None:
        _SPECS[path] = (files, digest, spec)
    return spec


@pytest.fixture
def engine_spec(engine_spec_path: str) -> Spec:
    return shared_spec(engine_spec_path)


@pytest.fixture
def engine_env() -> dict[str, str]:
    return {
        "ENGINE_ENV": "development",
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_SESSION_SECRET": TEST_SESSION_SECRET,
        "ENGINE_FIELD_KEYS": TEST_FIELD_KEYS,
    }


@pytest.fixture
def engine_plugins() -> list[Any]:
    return []


async def create_tables(database_url: str, schema: str, spec: Spec) -> None:
    """The spec's tables in `schema`: the project's migration files when they produce exactly this
    spec (so they are recorded as applied, as in production), else the DDL `migrate make` would write."""
    directory = os.path.join(spec.root, "migrations")
    conn = await connect(database_url, schema=schema)
    try:
        if read_all(directory) and not pending_steps(spec, directory):
            await apply(conn, directory)
            return
        for step in diff({}, spec_model(spec)):
            await conn.execute(step.sql)
    finally:
        await conn.close()


@pytest.fixture
async def engine_app(
    engine_spec: Spec,
    engine_env: dict[str, str],
    engine_database_url: str,
    engine_schema: str,
    engine_plugins: list[Any],
) -> Any:
    await create_tables(engine_database_url, engine_schema, engine_spec)
    config = Config.from_env(
        engine_spec, env=engine_env, database_url=engine_database_url, db_schema=engine_schema, auto_migrate=False
    )
    return create_app(engine_spec, config, plugins=engine_plugins)


class ServingTestServer(TestServer):
    """aiohttp's TestServer cancels a request's handler when its client disconnects
    (`handler_cancellation=True`); `resource-engine serve` and the gunicorn workers keep aiohttp's
    default and let the handler run on. Tests serve as production does, so they see what
    production does when a client leaves: a write completes, a body read fails.

    `_make_runner` is TestServer's one extension point (aiohttp's own RawTestServer and TestServer
    override it); tests/test_ops_logging.py checks the behaviour on the installed aiohttp."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        # and without aiohttp's own access log: the engine writes one line per request (engine.access)
        return web.AppRunner(self.app, **{**kwargs, "handler_cancellation": False, "access_log": None})


@pytest.fixture
async def api(
    engine_app: Any,
    aiohttp_client: Any,
    engine_spec: Spec,
    engine_database_url: str,
    engine_schema: str,
    engine_env: dict[str, str],
) -> Api:
    client = await aiohttp_client(ServingTestServer(engine_app))
    return Api(client, engine_spec, engine_database_url, engine_schema, engine_env)
