"""Large bodies take turns: at most ENGINE_LARGE_BODIES_AT_ONCE requests whose JSON body is over
ENGINE_LARGE_BODY_BYTES are parsed and handled at once per process, the others wait (within their
deadline), and small bodies never wait. Requests are held inside a write by a plugin (`Gate`), so
who is being handled and who waits is observed, not timed."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from engine.features.input_limits.metrics import LARGE_BODIES_WAITING
from engine.features.input_limits.plugin import InputLimits
from engine.kernel.hooks import hookimpl

LARGE = 2000  # bytes: ENGINE_LARGE_BODY_BYTES in these tests
PATIENCE = 30  # seconds a test waits for the server to reach a state before it fails


class Gate:
    """Holds every agent created with a name starting with `hold` until `opened`."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.opened = asyncio.Event()

    @hookimpl
    async def before_write(self, resource, action, data):
        name = data.get("name", "")
        if resource.name == "agents" and action == "create" and name.startswith("hold"):
            self.entered.append(name)
            await self.opened.wait()


def large(name: str) -> list[dict]:
    """A bulk create whose body is over LARGE bytes; its first item is the one the gate holds."""
    return [{"name": name}, *({"name": f"pad-{i}", "system_prompt": "x" * 200} for i in range(12))]


async def until(condition, what: str) -> None:
    try:
        async with asyncio.timeout(PATIENCE):
            while not await condition():  # noqa: ASYNC110 - the state is the server's, asked over HTTP
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"not reached in {PATIENCE} s: {what}")


def gauge(series) -> float:
    return series.collect()[0].samples[0].value


def waiting_now(api):
    async def check() -> bool:
        metrics = (await api.anonymous.get("/metrics")).text
        line = next(line for line in metrics.splitlines() if line.startswith("engine_large_bodies_waiting "))
        return float(line.split()[1]) >= 1

    return check


def entered(gate: Gate, count: int):
    async def check() -> bool:
        return len(gate.entered) >= count

    return check


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def engine_plugins(gate: Gate) -> list:
    return [gate]


def env(base: dict[str, str], at_once: int) -> dict[str, str]:
    return {
        **base,
        "ENGINE_RATE_LIMIT": "off",
        "ENGINE_LARGE_BODY_BYTES": str(LARGE),
        "ENGINE_LARGE_BODIES_AT_ONCE": str(at_once),
    }


class TestOneAtOnce:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return env(engine_env, 1)

    async def test_a_second_large_body_waits_until_the_first_is_answered(self, api, gate):
        alice = await api.as_user("alice")
        first = asyncio.create_task(alice.post("/api/agents", json=large("hold-first")))
        await until(entered(gate, 1), "the first bulk create reaches the gate")
        second = asyncio.create_task(alice.post("/api/agents", json=large("hold-second")))
        await until(waiting_now(api), "the second waits for a turn")
        assert gate.entered == ["hold-first"]  # the second is not being handled
        gate.opened.set()
        assert [(await first).status, (await second).status] == [201, 201]
        assert gate.entered == ["hold-first", "hold-second"]

    async def test_a_small_body_does_not_wait_for_a_turn(self, api, gate):
        alice = await api.as_user("alice")
        held = asyncio.create_task(alice.post("/api/agents", json=large("hold-bulk")))
        await until(entered(gate, 1), "the bulk create reaches the gate")
        small = await alice.post("/api/agents", json=[{"name": "small"}])
        assert small.status == 201, small.text
        assert not held.done()
        gate.opened.set()
        assert (await held).status == 201

    async def test_a_chunked_large_body_takes_a_turn_too(self, api, gate):
        alice = await api.as_user("alice")
        first = asyncio.create_task(alice.post("/api/agents", json=large("hold-first")))
        await until(entered(gate, 1), "the first bulk create reaches the gate")

        async def chunks():  # no Content-Length: the size is known once the body is read
            body = orjson.dumps(large("hold-chunked"))
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        headers = {"Content-Type": "application/json"}
        second = asyncio.create_task(alice.post("/api/agents", data=chunks(), headers=headers))
        await until(waiting_now(api), "the chunked bulk create waits for a turn")
        assert gate.entered == ["hold-first"]
        gate.opened.set()
        assert [(await first).status, (await second).status] == [201, 201]

    async def test_a_body_still_being_sent_holds_no_turn(self, api, gate):
        alice = await api.as_user("alice")
        body = orjson.dumps(large("slow"))
        rest = asyncio.Event()

        async def slowly():  # the declared size is large; the last bytes wait for `rest`
            yield body[:100]
            await rest.wait()
            yield body[100:]

        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        slow = asyncio.create_task(alice.post("/api/agents", data=slowly(), headers=headers))
        await asyncio.sleep(0.3)  # its headers reach the server (were they late, this test could not fail)
        held = asyncio.create_task(alice.post("/api/agents", json=large("hold-meanwhile")))
        await until(entered(gate, 1), "a large body sent whole takes the one turn while the other trickles in")
        rest.set()
        gate.opened.set()
        assert [(await held).status, (await slow).status] == [201, 201]


class TestNoBound:
    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return env(engine_env, 0)

    async def test_0_handles_every_large_body_at_once(self, api, gate):
        alice = await api.as_user("alice")
        both = [asyncio.create_task(alice.post("/api/agents", json=large(f"hold-{n}"))) for n in ("a", "b")]
        await until(entered(gate, 2), "both bulk creates reach the gate together")
        gate.opened.set()
        assert [(await task).status for task in both] == [201, 201]


async def test_a_wait_cut_short_takes_no_turn_and_leaves_none_taken():
    """A request whose deadline passes (or whose client leaves) while it waits is cancelled there:
    the turn it never got is not lost, and it no longer counts as waiting."""
    limits = InputLimits(3, 3, large_body=10, large_at_once=1)
    waiting_before = gauge(LARGE_BODIES_WAITING)
    async with limits.turn():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05), limits.turn():
                pytest.fail("a second turn while the only one is taken")
        assert gauge(LARGE_BODIES_WAITING) == waiting_before
    async with asyncio.timeout(PATIENCE), limits.turn():  # the one turn is free again
        pass


async def test_without_a_bound_a_turn_is_given_at_once():
    limits = InputLimits(3, 3, large_body=10, large_at_once=0)
    waiting_before = gauge(LARGE_BODIES_WAITING)
    async with asyncio.timeout(PATIENCE), limits.turn(), limits.turn():  # a second turn inside the first
        assert gauge(LARGE_BODIES_WAITING) == waiting_before


def test_only_bodies_over_the_size_take_turns():
    limits = InputLimits(3, 3, large_body=10, large_at_once=1)
    assert [limits.large(size) for size in (9, 10, 11)] == [False, False, True]
    assert not InputLimits(3, 3, large_body=10, large_at_once=0).large(11)


class TestToolCalls:
    """An MCP tool call runs the REST request inside the /mcp request (engine/features/mcp/dispatch.py):
    both bodies are large, and the inner one must not wait for the turn the outer one holds."""

    @pytest.fixture
    def engine_env(self, engine_env: dict[str, str]) -> dict[str, str]:
        return {**env(engine_env, 1), "ENGINE_REQUEST_TIMEOUT": "10"}

    async def test_a_large_tool_call_is_answered_with_the_only_turn(self, api):
        from mcp_support import mcp_client

        await api.as_user("alice")
        prompt = "x" * (LARGE + 100)  # the JSON-RPC body and the REST body are both large
        async with mcp_client(api, api.token("alice")) as client:
            created = await client.call_tool("agents_create", {"data": {"name": "big", "system_prompt": prompt}})
        assert created.is_error is False, created.structured_content
        assert created.structured_content["data"]["system_prompt"] == prompt
