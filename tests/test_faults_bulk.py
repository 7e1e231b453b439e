"""A worker killed (SIGKILL) in the middle of a bulk create of 1,000 rows leaves nothing half-written.

`resource-engine serve --workers 1` takes the bulk create; a project plugin holds the write's
transaction open in the `after_write` of its last row, so every row has been inserted (not
committed) when the test kills the worker. Afterwards no row and no event of that request exist,
the restarted worker serves, and sending the same request again creates all 1,000 rows and events.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

import aiohttp
import pytest
from load.notes import SCHEMA
from load.server import Server

from engine.features.metrics.processes import cluster_pids
from engine.testing import TEST_JWT_SECRET

ROWS = 1000
SLOW = "hold the transaction"
SPEC = """\
version: 1
settings: {rate_limit: "off"}
resources:
  notes:
    schema: schemas/note.json
    owner: owner_id
    unique: [[ref]]
    permissions: {list: [user], read: [user], create: [user], update: [user], delete: [user]}
    events: {emit: [created]}
"""
HOLD = f"""
import asyncio

from engine.plugin import hookimpl


@hookimpl
async def after_write(resource, action, record):
    if resource.name == "notes" and record.get("body") == {SLOW!r} and not record["ref"].startswith("again"):
        await asyncio.sleep(120)  # the test kills the worker meanwhile
"""
IN_FLIGHT = """
SELECT count(*) FROM pg_stat_activity
WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL AND datname = current_database()
  AND application_name = $1
"""


@pytest.fixture
def engine_spec_path(tmp_path) -> str:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "note.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "hold.py").write_text(HOLD)
    (tmp_path / "resources.yaml").write_text(SPEC)
    return str(tmp_path / "resources.yaml")


@pytest.fixture
async def server(api, engine_database_url, engine_schema, engine_spec_path):
    env = {
        "DATABASE_URL": engine_database_url,
        "ENGINE_DB_SCHEMA": engine_schema,
        "ENGINE_JWT_SECRET": TEST_JWT_SECRET,
        "ENGINE_AUTO_MIGRATE": "true",
        "ENGINE_LOG_LEVEL": "WARNING",
        "ENGINE_REQUEST_TIMEOUT": "300",
        "ENGINE_DB_APPLICATION_NAME": engine_schema,  # its sessions, not a test's running beside it
    }
    server = Server(engine_spec_path, env, workers=1)
    try:
        await asyncio.to_thread(server.wait_ready)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def items(prefix: str) -> list[dict[str, str]]:
    return [{"ref": f"{prefix}{i}", "body": SLOW if i == ROWS - 1 else "x"} for i in range(ROWS)]


async def post(base: str, token: str, body: list) -> tuple[int | None, object]:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/notes"
    try:
        async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)
    except aiohttp.ClientError as exc:
        return None, repr(exc)


async def wait_for(condition, what: str, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def test_a_worker_killed_during_a_bulk_create_leaves_no_row_and_no_event(server, api, engine_schema):
    token = api.token("alice")
    sending = asyncio.create_task(post(server.base, token, items("first")))

    async def held() -> bool:
        return (await api.sql(IN_FLIGHT, engine_schema))[0][0] > 0

    await wait_for(held, "the bulk create holding its transaction")
    worker = cluster_pids(server.process.pid)[1]
    os.kill(worker, signal.SIGKILL)
    status, _ = await sending
    assert status is None or status >= 500  # the client never got a 201

    async def rolled_back() -> bool:
        return not await held()

    await wait_for(rolled_back, "the dead worker's transaction ending")
    assert (await api.sql("SELECT count(*) FROM notes"))[0][0] == 0
    assert (await api.sql("SELECT count(*) FROM _engine_events WHERE resource = 'notes'"))[0][0] == 0

    await asyncio.to_thread(server.wait_ready)  # the master started a new worker
    status, body = await post(server.base, token, items("again"))
    assert status == 201, body
    assert (await api.sql("SELECT count(*) FROM notes"))[0][0] == ROWS
    assert (await api.sql("SELECT count(*) FROM _engine_events WHERE resource = 'notes'"))[0][0] == ROWS
