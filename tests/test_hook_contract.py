"""The hook contract of engine/hookspecs.py, kept: every hook may be async and is awaited, wrappers are
refused by name, renamed hooks still work with a warning, and every hookspec is exercised here."""

from __future__ import annotations

import asyncio
import json
import pathlib
import textwrap
import warnings
from typing import Any

import pluggy
import pytest
from aiohttp import web
from sqlglot import exp

from engine import hookspecs
from engine.cli.main import main
from engine.kernel.hooks import PROJECT, HookCall, call_all, call_first, resolve
from engine.kernel.plugins import PluginError, build_plugin_manager
from engine.plugin import (
    IDENTITY,
    POOL,
    Event,
    Forbidden,
    HandlerFailed,
    Identity,
    Predicate,
    WriteContext,
    column,
    hookimpl,
    json_response,
    param,
)
from engine.spec import load_spec

NOTE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "user_id": {"type": "string"},
        "title": {"type": "string"},
        "stamp": {"type": "string"},
    },
}
SPEC = """
version: 1
resources:
  notes:
    schema: schemas/note.json
    owner: user_id
    cache: {ttl: 30}
  secrets:
    schema: schemas/note.json
    owner: user_id
"""
READY = web.AppKey("async_configured", str)


class AsyncEverything:
    """One async implementation of every hook; each leaves a trace the tests look for."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {}
        self.events: list[Event] = []
        self.errors: list[BaseException] = []
        self.cache: dict[str, bytes] = {}

    def note(self, name: str, value: Any = None) -> None:
        self.calls.setdefault(name, []).append(value)

    @hookimpl
    async def configure(self, app: web.Application) -> None:
        await asyncio.sleep(0)
        app[READY] = "yes"

    @hookimpl
    async def before_pool_open(self, settings: Any) -> None:
        await asyncio.sleep(0)
        settings.max_size = 3

    @hookimpl
    async def startup(self, app: web.Application) -> None:
        await asyncio.sleep(0)
        self.note("startup", app[POOL].get_max_size())

    @hookimpl
    async def shutdown(self) -> None:
        self.note("shutdown")

    @hookimpl
    async def register_routes(self) -> list[web.RouteDef]:
        async def ready(request: web.Request) -> web.Response:
            return json_response({"configured": request.app[READY]})

        async def boom(request: web.Request) -> web.Response:
            raise RuntimeError("boom")

        await asyncio.sleep(0)
        return [web.get("/async/ready", ready), web.get("/async/boom", boom)]

    @hookimpl
    async def register_middlewares(self, app: web.Application) -> list[Any]:
        self.note("middlewares_app", app)

        @web.middleware
        async def stamp(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            response.headers["X-Async-Middleware"] = "1"
            return response

        return [stamp]

    @hookimpl
    async def identity_from_request(self, request: web.Request) -> Identity | None:
        await asyncio.sleep(0)
        user = request.headers.get("X-Test-User")
        return Identity(user) if user else None

    @hookimpl
    async def user_roles(self, user_id: str) -> frozenset[str] | None:
        await asyncio.sleep(0)
        self.note("user_roles", user_id)
        return frozenset() if user_id == "demoted" else None

    @hookimpl
    async def authorize(self, resource: Any, action: str) -> bool:
        await asyncio.sleep(0)
        return not (resource.name == "secrets" and action == "list")

    @hookimpl
    async def access_predicates(self, resource: Any, action: str) -> Predicate | None:
        await asyncio.sleep(0)
        if resource.name != "notes" or action != "list":
            return None
        return Predicate(("no-hidden",), lambda t: exp.not_(column("title", t).eq(param("hidden"))), {"hidden": "x"})

    @hookimpl
    async def field_access(self, resource: Any, mode: str) -> dict[str, Predicate] | None:
        await asyncio.sleep(0)
        if resource.name != "secrets" or mode != "read":
            return None
        return {
            "title": Predicate(
                ("unclassified",), lambda t: exp.not_(column("title", t).eq(param("c"))), {"c": "classified"}
            )
        }

    @hookimpl
    async def plan_includes(self, names: tuple[str, ...], fields: Any) -> Any:
        await asyncio.sleep(0)
        if names != ("greeting",):
            return None
        return GreetingPlan(fields)

    @hookimpl
    async def before_validate(self, action: str, data: dict) -> None:
        await asyncio.sleep(0)
        if action == "create":
            data["stamp"] = "validated"

    @hookimpl
    async def write_needs_transaction(self, context: WriteContext, resource: Any, action: str) -> bool:
        await asyncio.sleep(0)
        return action == "update" and resource.name == "notes" and context.identity is not None

    @hookimpl
    async def write_needs_previous(self, data: dict) -> bool:
        await asyncio.sleep(0)
        return "stamp" in data

    @hookimpl
    async def before_write(self, context: WriteContext, action: str, previous: Any) -> None:
        await asyncio.sleep(0)
        self.note("before_write", (action, context.conn is not None, previous is not None))

    @hookimpl
    async def after_write(self, context: WriteContext, action: str, record: dict) -> None:
        await asyncio.sleep(0)
        if record.get("title") == "boom":
            raise Forbidden("after_write refused")
        self.note("after_write", (action, [type(f).__name__ for f in context.folds], type(context).__name__))

    @hookimpl
    async def fold_into_write(self, resource: Any, action: str) -> Any:
        await asyncio.sleep(0)
        return PlainFold() if resource.name == "secrets" and action == "create" else None

    @hookimpl
    async def on_event(self, event: Event) -> None:
        self.events.append(event)

    @hookimpl
    async def on_error(self, error: BaseException) -> None:
        self.errors.append(error)

    @hookimpl
    async def cache_get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        self.note("cache_get", key)
        return self.cache.get(key)

    @hookimpl
    async def cache_put(self, key: str, body: bytes) -> None:
        await asyncio.sleep(0)
        self.cache[key] = body

    @hookimpl
    async def register_openapi(self, document: dict) -> None:
        await asyncio.sleep(0)
        for path in ("/async/ready", "/async/boom"):
            document["paths"][path] = {"get": {"responses": {"200": {"description": "ok"}}, "security": [{}]}}

    @hookimpl
    async def register_commands(self) -> None:  # exercised through a project plugin below
        return None

    @hookimpl
    async def rotate_field_keys(self, keys: Any) -> tuple[str, int, int]:
        await asyncio.sleep(0)
        self.note("rotate_field_keys", keys)
        return "test values", 2, 0


class GreetingPlan:
    def __init__(self, fields: Any) -> None:
        self.fields = fields

    def widen(self, query: Any) -> Any:
        return query

    async def attach(self, request: web.Request, rows: list[dict]) -> None:
        for row in rows:
            row["greeting"] = f"hello {request[IDENTITY].user_id}"


class PlainFold:
    """Folds a harmless read of the written row, so after_write can see context.folds."""

    def ctes(self, written: str) -> list[tuple[str, Any]]:
        return [("plain_seen", exp.select(column("id", written)).from_(written))]

    def values(self, identity: Any, previous: Any) -> dict:
        return {}


@pytest.fixture
def engine_spec_path(tmp_path: pathlib.Path) -> str:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "note.json").write_text(json.dumps(NOTE))
    (tmp_path / "resources.yaml").write_text(SPEC)
    return str(tmp_path / "resources.yaml")


@pytest.fixture
def recorder() -> AsyncEverything:
    return AsyncEverything()


@pytest.fixture
def engine_plugins(recorder: AsyncEverything) -> list[Any]:
    return [recorder]


def as_alice(api: Any) -> Any:
    return api.anonymous.__class__(api.client, {"X-Test-User": "alice"})


async def test_an_async_configure_completes_before_the_first_request(api):
    assert (await api.anonymous.get("/async/ready")).json == {"configured": "yes"}


async def test_an_async_before_pool_open_sets_the_pool_size(api, recorder):
    assert recorder.calls["startup"] == [3]


async def test_async_routes_and_middlewares_are_installed(api):
    result = await api.anonymous.get("/async/ready")
    assert result.headers["X-Async-Middleware"] == "1"


async def test_register_middlewares_receives_the_app(api, recorder):
    assert recorder.calls["middlewares_app"] == [api.app]


async def test_an_async_identity_from_request_signs_the_caller_in(api):
    created = await as_alice(api).post("/api/notes", json={"title": "mine"})
    assert created.status == 201 and created.json["data"]["user_id"] == "alice"


async def test_an_async_user_roles_narrows_an_api_keys_roles(api, recorder):
    await as_alice(api).post("/api/notes", json={"title": "mine"})
    admin_then = api.with_token(api.token("demoted", ["admin"]))
    created = await admin_then.post("/api/me/api-keys", json={"name": "k", "scopes": ["notes:read"]})
    assert created.json["data"]["roles"] == ["admin"]
    key = api.anonymous.__class__(api.client, {"X-API-Key": created.json["data"]["key"]})
    assert (await key.get("/api/notes")).json["data"] == []  # no longer an admin: only its own notes
    assert recorder.calls["user_roles"] == ["demoted"]


async def test_an_async_authorize_answering_false_is_a_403(api):
    assert (await as_alice(api).get("/api/secrets")).status == 403


async def test_an_async_access_predicate_limits_the_list(api):
    alice = as_alice(api)
    await alice.post("/api/notes", json={"title": "x"})
    await alice.post("/api/notes", json={"title": "kept"})
    assert [row["title"] for row in (await alice.get("/api/notes")).json["data"]] == ["kept"]


async def test_an_async_field_access_hides_a_field_where_its_predicate_fails(api):
    alice = as_alice(api)
    hidden = (await alice.post("/api/secrets", json={"title": "classified"})).headers["Location"]
    shown = (await alice.post("/api/secrets", json={"title": "open"})).headers["Location"]
    assert "title" not in (await alice.get(hidden)).json["data"]
    assert (await alice.get(shown)).json["data"]["title"] == "open"


async def test_an_async_plan_includes_attaches_rows(api):
    alice = as_alice(api)
    created = await alice.post("/api/notes", json={"title": "kept"})
    read = await alice.get(created.headers["Location"] + "?include=greeting")
    assert read.json["data"]["greeting"] == "hello alice"


async def test_an_async_before_validate_changes_the_body(api):
    created = await as_alice(api).post("/api/notes", json={"title": "kept"})
    assert created.json["data"]["stamp"] == "validated"


async def test_async_write_hooks_receive_the_write_context(api, recorder):
    await as_alice(api).post("/api/notes", json={"title": "kept"})
    assert recorder.calls["before_write"] == [("create", True, False)]
    assert recorder.calls["after_write"] == [("create", ["EventFold"], "WriteContext")]  # events folded in


async def test_an_async_after_write_that_raises_rolls_back_the_transaction_it_asked_for(api):
    alice = as_alice(api)
    created = await alice.post("/api/notes", json={"title": "kept"})
    assert (await alice.patch(created.headers["Location"], json={"title": "boom"})).status == 403
    assert [r["title"] for r in await api.sql("SELECT title FROM notes")] == ["kept"]


async def test_async_folds_compose_with_the_events_fold_in_one_statement(api, recorder):
    """Also proves the async write_needs_transaction is awaited: its coroutine would be truthy, and a
    transaction path folds nothing."""
    assert (await as_alice(api).post("/api/secrets", json={"title": "kept"})).status == 201
    assert recorder.calls["after_write"] == [("create", ["PlainFold", "EventFold"], "WriteContext")]


async def test_an_async_write_needs_previous_is_awaited_and_decides_per_update(api, recorder):
    """A coroutine is truthy: were it not awaited, the rename would read the stored row too."""
    alice = as_alice(api)
    location = (await alice.post("/api/secrets", json={"title": "kept"})).headers["Location"]
    assert (await alice.patch(location, json={"title": "renamed"})).status == 200
    assert (await alice.patch(location, json={"stamp": "now"})).status == 200
    assert recorder.calls["before_write"][-2:] == [("update", True, False), ("update", True, True)]


async def test_async_cache_hooks_store_and_answer(api, recorder):
    """The row is written with SQL, not through the API: no write notice can move the cache generation
    between the two reads (that would be a correct miss, and make this test depend on timing)."""
    await api.sql("INSERT INTO notes (user_id, title) VALUES ('alice', 'kept')")
    alice = as_alice(api)
    first = await alice.get("/api/notes")
    second = await alice.get("/api/notes")
    assert len(recorder.cache) == 1 and first.json == second.json
    assert len(recorder.calls["cache_get"]) == 2


async def test_an_async_on_event_receives_a_typed_event(api, recorder):
    created = await as_alice(api).post("/api/notes", json={"title": "kept"})
    for _ in range(200):
        if recorder.events:
            break
        await asyncio.sleep(0.05)
    [event] = recorder.events
    assert isinstance(event, Event)
    assert (event.resource, event.action, event.record_id) == ("notes", "created", created.json["data"]["id"])
    assert event["id"] == event.id  # the dict access of earlier releases still answers


async def test_an_async_register_openapi_adds_paths(api):
    document = (await api.anonymous.get("/openapi.json")).json
    assert "/async/ready" in document["paths"]


async def test_an_async_on_error_hears_of_a_failing_request(api, recorder):
    assert (await api.anonymous.get("/async/boom")).status == 500
    assert [str(e) for e in recorder.errors] == ["boom"]


def test_handler_failed_carries_a_typed_event():
    event = Event(1, "notes", "created", "n1", "alice", "2026-12-05T00:00:00+00:00", {}, None)
    failure = HandlerFailed(event, "audit", 3, ValueError("x"))
    assert failure.event.id == 1 and isinstance(failure.__cause__, ValueError)


def test_an_async_register_commands_adds_a_command(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "note.json").write_text(json.dumps(NOTE))
    (tmp_path / "resources.yaml").write_text(SPEC)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "hello.py").write_text(
        textwrap.dedent(
            """
            from engine.plugin import hookimpl

            @hookimpl
            async def register_commands(commands):
                commands.add_parser("async-hello").set_defaults(run=lambda args, out: 0)
            """
        )
    )
    assert main(["--spec", str(tmp_path / "resources.yaml"), "async-hello"]) == 0


async def test_an_async_rotate_field_keys_answer_is_awaited():
    # The real command with a real implementation: tests/test_webhooks.py (TestKeyRotation).
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(AsyncEverything())
    assert await call_all(pm.hook.rotate_field_keys, conn=None, keys="the keys") == [("test values", 2, 0)]


class Wrapper:
    @hookimpl(wrapper=True)
    def identity_from_request(self, request: Any) -> Any:
        return (yield)


def test_a_hook_wrapper_is_refused_naming_the_hook(engine_spec_path):
    with pytest.raises(PluginError, match=r"identity_from_request.*wrapper"):
        build_plugin_manager(load_spec(engine_spec_path), [Wrapper()])


class OldNames:
    @hookimpl
    def middlewares(self) -> list[Any]:
        return []


def test_an_old_hook_name_still_works_with_a_deprecation_warning(engine_spec_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = build_plugin_manager(load_spec(engine_spec_path), [OldNames()])
    assert any("'middlewares' is now called 'register_middlewares'" in str(w.message) for w in caught)
    assert any(impl.plugin.__class__ is OldNames for impl in pm.hook.register_middlewares.get_hookimpls())


def hookspec_names() -> set[str]:
    return {name for name, value in vars(hookspecs).items() if hasattr(value, "resource_engine_spec")}


def implemented_in_tests() -> set[str]:
    """Hook names implemented under @hookimpl anywhere in tests/: in code, and in plugin sources that
    tests write to disk as text."""
    names: set[str] = set()
    for path in pathlib.Path(__file__).parent.rglob("*.py"):
        decorated = False
        for line in (raw.strip() for raw in path.read_text().splitlines()):
            if line.startswith("@hookimpl"):
                decorated = True
            elif decorated and line.startswith(("def ", "async def ")):
                names.add(line.removeprefix("async ").removeprefix("def ").split("(")[0])
                decorated = False
            elif line and not line.startswith("@"):
                decorated = False
    return names


def test_every_hookspec_has_an_implementation_in_the_test_suite():
    missing = hookspec_names() - implemented_in_tests()
    assert not missing, f"hooks no test implements: {sorted(missing)}"


async def test_an_async_shutdown_runs_when_the_app_stops(engine_app, aiohttp_client, recorder):
    client = await aiohttp_client(engine_app)
    assert "shutdown" not in recorder.calls
    await client.close()
    assert recorder.calls["shutdown"] == [None]


class SyncAndAsyncWrites:
    """Two before_write implementations, one sync and one async, that record the order they ran in."""

    def __init__(self, ran: list[str]) -> None:
        self.ran = ran

    @hookimpl(specname="before_write")
    def sync_rule(self, action: str) -> str:
        self.ran.append(f"sync {action}")
        return "sync"

    @hookimpl(specname="before_write", tryfirst=True)
    async def async_rule(self, action: str) -> str:
        await asyncio.sleep(0)
        self.ran.append(f"async {action}")
        return "async"


async def test_a_hook_looked_up_once_answers_and_orders_as_pluggy_does():
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    once, every = [], []
    pm.register(SyncAndAsyncWrites(once), name="once")
    looked_up = HookCall(pm.hook.before_write)
    pm.unregister(name="once")
    pm.register(SyncAndAsyncWrites(every), name="every")
    kwargs = dict(context=None, conn=None, resource=None, action="create", data={}, previous=None, identity=None)
    assert await looked_up(**kwargs) == await resolve(pm.hook.before_write(**kwargs)) == ["async", "sync"]
    assert once == every == ["sync create", "async create"]  # all called first, then the async ones awaited


async def test_call_all_answers_from_the_plugins_registered_now():
    """call_all keeps its lookup per hook, but a plugin registered or unregistered since counts."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    kwargs = dict(context=None, conn=None, resource=None, action="create", data={}, previous=None, identity=None)
    assert await call_all(pm.hook.before_write, **kwargs) == []
    pm.register(SyncAndAsyncWrites([]), name="writes")
    assert await call_all(pm.hook.before_write, **kwargs) == ["async", "sync"]
    pm.unregister(name="writes")
    assert await call_all(pm.hook.before_write, **kwargs) == []


class AwaitableTuple(tuple):
    """A plain type's subclass that is awaitable: an answer is awaited by what it can do, not its base."""

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return "awaited tuple"


class AwaitableAnswers:
    @hookimpl
    def write_needs_transaction(self, action):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_soon(future.set_result, "awaited future")
        return {"create": future, "update": AwaitableTuple(), "delete": False}[action]


@pytest.mark.parametrize(
    ("action", "answer"), [("create", "awaited future"), ("update", "awaited tuple"), ("delete", False)]
)
async def test_an_answer_that_is_awaitable_but_not_a_coroutine_is_awaited(action, answer):
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(AwaitableAnswers())
    kwargs = dict(context=None, resource=None, action=action, identity=None)
    assert await HookCall(pm.hook.write_needs_transaction)(**kwargs) == [answer]


async def test_a_hook_nobody_implements_is_answered_without_a_call():
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    assert HookCall(pm.hook.after_write).impls == ()
    assert await HookCall(pm.hook.after_write)(record={}) == []


class Identities:
    """An identity_from_request implementation answering `answer` (None: not its credential)."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer

    @hookimpl
    async def identity_from_request(self, request: object) -> str | None:
        return self.answer


async def test_call_first_answers_from_the_plugins_registered_now():
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Identities(None), name="absent")
    assert await call_first(pm.hook.identity_from_request, request=None) is None
    pm.register(Identities("alice"), name="alice")
    assert await call_first(pm.hook.identity_from_request, request=None) == "alice"
    pm.unregister(name="alice")
    assert await call_first(pm.hook.identity_from_request, request=None) is None
