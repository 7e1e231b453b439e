"""on_error: handler failures and unhandled request errors reach it; the built-in one logs them."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from events_support import wait_until

from engine.kernel.hooks import hookimpl


class Broken:
    """A route that fails unexpectedly, and an on_event handler that always fails."""

    @hookimpl
    def register_routes(self, app, spec):
        async def explode(request):
            raise RuntimeError("the flux capacitor broke")

        return [web.get("/api/explode", explode)]

    @hookimpl
    def on_event(self, event):
        raise ValueError(f"cannot handle {event['resource']}")


class Tracker:
    def __init__(self) -> None:
        self.errors: list[tuple[object, BaseException]] = []

    @hookimpl
    def on_error(self, request, error):
        self.errors.append((request, error))


@pytest.fixture
def tracker():
    return Tracker()


@pytest.fixture
def engine_plugins(tracker):
    return [Broken(), tracker]


@pytest.fixture
def engine_env(engine_env):
    return {**engine_env, "ENGINE_EVENTS_RETRIES": "0"}


async def test_an_unhandled_request_error_reaches_on_error_with_its_request(api, tracker):
    alice = await api.as_user("alice")

    result = await alice.get("/api/explode")

    assert result.status == 500
    [(request, error)] = [(r, e) for r, e in tracker.errors if r is not None]
    assert (request.path, str(error)) == ("/api/explode", "the flux capacitor broke")


async def test_the_built_in_on_error_logs_request_errors_with_the_request_id(api, caplog):
    alice = await api.as_user("alice")

    with caplog.at_level(logging.ERROR, logger="engine.errors"):
        result = await alice.get("/api/explode")

    [line] = [r.getMessage() for r in caplog.records if r.name == "engine.errors"]
    assert result.headers["X-Request-ID"] in line
    assert "the flux capacitor broke" in line


async def test_the_built_in_on_error_logs_handler_failures_with_the_event_ids(api, caplog):
    caplog.set_level(logging.ERROR, logger="engine.errors")
    alice = await api.as_user("alice")
    agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

    async def logged() -> bool:
        return any(agent["id"] in r.getMessage() for r in caplog.records if r.name == "engine.errors")

    await wait_until(logged, "the handler failure to be logged")
    [record] = [r for r in caplog.records if r.name == "engine.errors" and agent["id"] in r.getMessage()]
    assert "gave up on event id=" in record.getMessage()
    assert "cannot handle agents" in str(record.exc_info[1])
