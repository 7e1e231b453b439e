"""The nothing-lost load test end to end: a served example app, users, the workload, the figures.

Shared by the CLI (``python -m tests.load``, long form) and tests/test_reliability_load.py (short
form in CI), so both measure the same thing.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import aiohttp
import asyncpg

from engine.features.jwt_auth.tokens import JwtSettings, issue
from engine.spec import load_spec

from . import workload
from .server import Server

SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "resources.yaml")
JWT_SECRET = "load-test-secret-for-resource-engine-0123456789abcdef"
# Which figures must be exactly zero for a run to pass.
MUST_BE_ZERO = ("lost", "wrong_owner", "deleted_but_present", "duplicates", "stream_missing", "server_errors")


def environment(database_url: str, schema: str, max_requests: int | None = None) -> dict[str, str]:
    """How the served app is configured: the example spec on `schema`, migrations applied at start.

    `max_requests` recycles each worker after that many requests (plus up to half again, jitter),
    so that a short run crosses several recycles; None keeps the production default.
    """
    env = {
        "DATABASE_URL": database_url,
        "ENGINE_DB_SCHEMA": schema,
        "ENGINE_JWT_SECRET": JWT_SECRET,
        "ENGINE_ENV": "development",
        "ENGINE_AUTO_MIGRATE": "true",  # workers race to apply migrations/ (under an advisory lock)
        "ENGINE_RATE_LIMIT": "off",  # measure the engine, not the limiter
        "ENGINE_LOG_LEVEL": "WARNING",
    }
    if max_requests is not None:
        env |= {"ENGINE_MAX_REQUESTS": str(max_requests), "ENGINE_MAX_REQUESTS_JITTER": str(max_requests // 2)}
    return env


def tokens_for(names: list[str], roles: tuple[str, ...] = ()) -> dict[str, str]:
    settings = JwtSettings.from_env({"ENGINE_JWT_SECRET": JWT_SECRET}, development=True, secret_file="")
    return {name: issue(settings, name, list(roles), ttl=3600) for name in names}


async def create_users(base: str, names: list[str]) -> None:
    admin = tokens_for(["load-admin"], ("admin",))["load-admin"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as session:
        for name in names:
            async with session.post(base + "/api/users", json={"id": name, "email": f"{name}@load.test"}) as r:
                if r.status not in (201, 409):
                    raise RuntimeError(f"could not create user {name}: {r.status} {await r.text()}")


async def load_test(
    database_url: str,
    *,
    seconds: float,
    users: int,
    streams: int,
    workers: int | None,
    seed: int = 1,
    max_requests: int | None = None,
) -> dict[str, Any]:
    """Serve the example app on a fresh schema, run the workload, and return every figure."""
    spec = load_spec(SPEC_PATH)
    schema = f"load_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')  # generated name, never input
    try:
        server = Server(spec.path, environment(database_url, schema, max_requests), workers)
        try:
            await asyncio.to_thread(server.wait_ready)
            names = [f"load-user-{i}" for i in range(users)]
            await create_users(server.base, names)
            tokens = tokens_for(names)
            stream_tokens = tokens_for(names[:streams])  # these users also watch their own changes live
            ledger, stats, subscriptions, elapsed = await workload.run(
                server.base, tokens, stream_tokens, seconds, seed
            )
        finally:
            returncode = await asyncio.to_thread(server.stop)
        conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
        try:
            figures = await workload.reconcile(conn, ledger, subscriptions, names)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    report = {
        "load": workload.summary(stats, elapsed, users),
        "nothing_lost": figures,
        "workers": workers or 1,
        "worker_recycles": server.recycles(),
        "server_exit_code": returncode,
        "unexpected_answers": stats.unexpected[:20],
    }
    report["nothing_lost"]["server_errors"] = report["load"]["server_errors"]
    report["passed"] = _passed(report)
    return report


def _passed(report: dict[str, Any]) -> bool:
    figures = report["nothing_lost"]
    zero = all(figures[name] == 0 for name in MUST_BE_ZERO)
    events = (
        figures["events_created"] == figures["acked_creates"]
        and figures["events_updated"] == figures["acked_updates"]
        and figures["events_deleted"] == figures["acked_deletes"]
    )
    clean = figures["indeterminate"] == 0 and not report["load"]["connection_errors"]
    return zero and events and clean
