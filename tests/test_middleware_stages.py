"""Where a plugin's middleware runs: `observes_answers` outside the error boundary (it sees the
problem the client gets), unmarked ones inside it, `after_authentication` inside authentication."""

from __future__ import annotations

import pytest
from aiohttp import web

from engine.http.middleware import authentication, build_middlewares, error_boundary, request_id
from engine.kernel.errors import ConfigurationError
from engine.plugin import after_authentication, for_methods, for_routes, hookimpl, observes_answers


@web.middleware
async def plain(request, handler):
    return await handler(request)


@after_authentication
@web.middleware
async def per_caller(request, handler):
    return await handler(request)


@observes_answers
@web.middleware
async def observer(request, handler):
    return await handler(request)


def test_each_stage_has_its_place_in_the_pipeline():
    assert build_middlewares([per_caller, plain, observer]) == [
        request_id,
        observer,
        error_boundary,
        plain,
        authentication,
        per_caller,
    ]


class Answers:
    """A plugin observing answers: it records the status, the request id and the body each got,
    and whether its own middleware saw an exception."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, bytes]] = []
        self.raised: list[BaseException] = []

    @hookimpl
    def register_middlewares(self, app, spec):
        @observes_answers
        @web.middleware
        async def record(request: web.Request, handler):
            try:
                response = await handler(request)
            except BaseException as error:
                self.raised.append(error)
                raise
            self.seen.append((response.status, response.headers["X-Request-ID"], response.body))
            return response

        return [record]


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def engine_plugins(answers):
    return [answers, Scoped()]


async def test_an_observer_gets_the_problem_the_client_gets_not_the_exception(api, answers):
    alice = await api.as_user("alice")
    refused = await alice.get("/api/agents/not-a-known-id", headers={"X-Request-ID": "observed-1"})
    assert refused.status == 404
    assert answers.seen[-1] == (404, "observed-1", refused.body)
    assert answers.raised == []


SEEN: list[str] = []


@for_methods("POST")
@web.middleware
async def posts_only(request, handler):
    SEEN.append(f"post-only {request.method}")
    return await handler(request)


@for_routes(lambda route: False)
@web.middleware
async def nowhere(request, handler):
    SEEN.append(f"nowhere {request.method} {request.path}")
    return await handler(request)


class Scoped:
    @hookimpl
    def register_middlewares(self, app, spec):
        return [posts_only, nowhere]


async def test_a_middleware_for_some_methods_runs_on_those_alone(api):
    alice = await api.as_user("alice")
    SEEN.clear()
    assert (await alice.get("/api/agents")).status == 200
    assert (await alice.post("/api/agents", json={"name": "scoped"})).status == 201
    assert SEEN == ["post-only POST"]


async def test_a_request_no_route_matched_runs_every_middleware(api):
    alice = await api.as_user("alice")
    SEEN.clear()
    assert (await alice.get("/api/no-such-thing")).status == 404
    assert SEEN == ["post-only GET", "nowhere GET /api/no-such-thing"]


def _broken_test(route):
    raise KeyError("no such thing")


@for_routes(_broken_test)
@web.middleware
async def misjudged(request, handler):
    return await handler(request)


class Misjudging:
    @hookimpl
    def register_middlewares(self, app, spec):
        return [misjudged]


async def test_a_for_routes_test_that_raises_stops_the_start_naming_it(start_app):
    with pytest.raises(ConfigurationError, match=r"'misjudged'.* raised KeyError"):
        await start_app([Misjudging()])
