"""Schemathesis against the served /openapi.json: no 5xx, and every response conforms to the document.

The example app is served by the real CLI; schemathesis generates requests for every operation
(examples, boundary coverage, random fuzzing, and stateful sequences following the links it infers
from the document), as two users and as an admin, and checks each response: never a server error,
a documented status code, content type, headers and body schema.

Bounded for CI (FUZZ_EXAMPLES per operation, default 3; the coverage phase runs as admin only;
FUZZ_PHASES overrides); the long run is documented in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from load.scenario import SPEC_PATH, create_users, environment, tokens_for
from load.server import Server

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "3")
QUICK = "examples,fuzzing,stateful"
ALL = "examples,coverage,fuzzing,stateful"  # coverage: every boundary and invalid value, about 4 minutes
RUN_LIMIT_S = int(os.environ.get("FUZZ_TIME_LIMIT", "1200"))  # one identity's run longer than this is a hang
# An event stream never ends: schemathesis reads one until the request timeout has passed in total, so
# at 30 s each stream request cost 30 s (most of the run). Its own timeout bounds that read; keep-alives
# every second keep the stream talking within it, as an idle stream does (every 15 s by default).
STREAM_READ_S = 5
SCHEMATHESIS_CONFIG = f"""
[[operations]]
include-path = "/api/events/stream"
request-timeout = {STREAM_READ_S}
"""


async def _schema(database_url: str, name: str, create: bool) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"' if create else f'DROP SCHEMA "{name}" CASCADE')  # generated
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def served(engine_database_url):
    """The example app on a fresh schema, with users alice and bob; yields (base URL, tokens)."""
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_schema(engine_database_url, schema, create=True))
    env = {**environment(engine_database_url, schema), "ENGINE_EVENTS_KEEPALIVE": "1"}
    server = Server(os.path.abspath(SPEC_PATH), env, workers=None)
    try:
        server.wait_ready()
        # root (the admin) has a row too: an admin's POST /api/users without an id would otherwise
        # create it, and a later DELETE of it would retire the id the admin's token speaks for.
        asyncio.run(create_users(server.base, ["alice", "bob", "root"]))
        yield server.base, {**tokens_for(["alice", "bob"]), "admin": tokens_for(["root"], ("admin",))["root"]}
    finally:
        server.stop()
        asyncio.run(_schema(engine_database_url, schema, create=False))


# In CI the admin (who reaches every operation) also runs the long coverage phase; FUZZ_PHASES overrides.
@pytest.mark.parametrize(("identity", "phases"), [("alice", QUICK), ("bob", QUICK), ("admin", ALL)])
@pytest.mark.timeout(RUN_LIMIT_S + 60)
def test_fuzzed_requests_get_no_server_error_and_documented_responses(served, identity, phases, tmp_path):
    base, tokens = served
    phases = os.environ.get("FUZZ_PHASES", phases)
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{base}/openapi.json"),
        *("--checks", ",".join(CHECKS), "--phases", phases, "--max-examples", EXAMPLES),
        *("--seed", "1", "--workers", "1", "--generation-database", "none", "--no-color"),
        *("--request-timeout", "30", "--report", "junit", "--report-dir", str(tmp_path)),
        *("-H", f"Authorization: Bearer {tokens[identity]}"),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
