"""on_event handlers: after commit, outside the request, in order per record, retried, failures kept."""

from __future__ import annotations

import asyncio
import threading

import pytest
from events_support import Recorder, wait_until

from engine.features.events import HandlerFailed
from engine.kernel.hooks import hookimpl


class Flaky:
    """Fails the first `failures` attempts at each agent event, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[int, int] = {}
        self.handled: list[int] = []

    @hookimpl
    async def on_event(self, event):
        if event["resource"] != "agents":
            return
        self.attempts[event["id"]] = self.attempts.get(event["id"], 0) + 1
        if self.attempts[event["id"]] <= self.failures:
            raise RuntimeError(f"attempt {self.attempts[event['id']]} failed")
        self.handled.append(event["id"])


class ErrorTracker:
    def __init__(self) -> None:
        self.errors: list[tuple[object, BaseException]] = []

    @hookimpl
    def on_error(self, request, error):
        self.errors.append((request, error))


def fast_retries(env: dict[str, str], retries: int) -> dict[str, str]:
    return {**env, "ENGINE_EVENTS_RETRIES": str(retries), "ENGINE_EVENTS_RETRY_BACKOFF": "0.01"}


class TestDelivery:
    @pytest.fixture
    def recorder(self):
        return Recorder()

    @pytest.fixture
    def engine_plugins(self, recorder):
        return [recorder]

    async def test_a_handler_receives_each_committed_event_after_the_response(self, api, recorder):
        alice = await api.as_user("alice")

        agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

        async def delivered() -> bool:
            return bool(recorder.of(agent["id"]))

        await wait_until(delivered, "the created event to reach the handler")
        [event] = recorder.of(agent["id"])
        assert (event["resource"], event["action"], event["actor"]) == ("agents", "created", "alice")
        assert event["data"]["name"] == "Helper"

    async def test_a_handler_receives_the_events_of_one_record_in_order(self, api, recorder):
        alice = await api.as_user("alice")
        agent = (await alice.post("/api/agents", json={"name": "v0"})).json["data"]
        for version in range(1, 10):
            await alice.patch(f"/api/agents/{agent['id']}", json={"name": f"v{version}"})

        async def all_delivered() -> bool:
            return len(recorder.of(agent["id"])) == 10

        await wait_until(all_delivered, "ten events of one agent")
        assert [e["data"]["name"] for e in recorder.of(agent["id"])] == [f"v{i}" for i in range(10)]


class TestRetry:
    @pytest.fixture
    def flaky(self):
        return Flaky(failures=2)

    @pytest.fixture
    def engine_plugins(self, flaky):
        return [flaky]

    @pytest.fixture
    def engine_env(self, engine_env):
        return fast_retries(engine_env, retries=3)

    async def test_a_failing_handler_never_fails_the_request_and_is_retried_until_it_succeeds(self, api, flaky):
        alice = await api.as_user("alice")

        created = await alice.post("/api/agents", json={"name": "Helper"})

        assert created.status == 201

        async def handled() -> bool:
            return bool(flaky.handled)

        await wait_until(handled, "the third attempt to succeed")
        assert list(flaky.attempts.values()) == [3]
        assert await api.sql("select * from _engine_event_failures") == []


class TestGivingUp:
    @pytest.fixture
    def tracker(self):
        return ErrorTracker()

    @pytest.fixture
    def engine_plugins(self, tracker):
        return [Flaky(failures=100), tracker]

    @pytest.fixture
    def engine_env(self, engine_env):
        return fast_retries(engine_env, retries=2)

    async def test_after_the_last_retry_the_failure_is_kept_with_the_event_id_and_the_error(self, api):
        alice = await api.as_user("alice")
        agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

        async def kept() -> bool:
            return bool(await api.sql("select * from _engine_event_failures"))

        await wait_until(kept, "the failure to be stored")
        [failure] = await api.sql("select * from _engine_event_failures")
        [event] = await api.sql("select id from _engine_events where record_id = $1", agent["id"])
        assert failure["event_id"] == event["id"]
        assert failure["attempts"] == 3
        assert "RuntimeError: attempt 3 failed" in failure["error"]
        assert failure["handler"].endswith("Flaky")

    async def test_the_given_up_failure_is_reported_to_on_error_with_its_event(self, api, tracker):
        alice = await api.as_user("alice")
        agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

        async def reported() -> bool:
            return bool(tracker.errors)

        await wait_until(reported, "on_error to receive the failure")
        [(request, error)] = tracker.errors
        assert request is None
        assert isinstance(error, HandlerFailed)
        assert (error.event["record_id"], error.attempts) == (agent["id"], 3)
        assert isinstance(error.__cause__, RuntimeError)


class Stuck:
    """Blocks on each event until released: a handler far slower than the requests."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    @hookimpl
    async def on_event(self, event):
        self.started.set()
        await self.release.wait()


class BlockingFunction:
    """A plain (not async) handler that blocks its thread until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    @hookimpl
    def on_event(self, event):
        self.started.set()
        self.release.wait(timeout=30)


class TestSlowHandlers:
    @pytest.fixture
    def stuck(self):
        return Stuck()

    @pytest.fixture
    def blocking(self):
        return BlockingFunction()

    @pytest.fixture
    def recorder(self):
        return Recorder()

    @pytest.fixture
    def engine_plugins(self, stuck, blocking, recorder):
        return [stuck, blocking, recorder]

    async def test_requests_complete_while_handlers_are_still_busy_with_their_events(self, api, stuck, blocking):
        alice = await api.as_user("alice")
        await wait_until(self._started(stuck, blocking), "both handlers to be busy")

        created = await alice.post("/api/agents", json={"name": "Helper"})  # would hang if it waited for them

        assert created.status == 201
        assert not stuck.release.is_set() and not blocking.release.is_set()
        stuck.release.set()
        blocking.release.set()

    async def test_a_stuck_handler_does_not_hold_up_the_other_handlers(self, api, stuck, blocking, recorder):
        alice = await api.as_user("alice")
        await wait_until(self._started(stuck, blocking), "both handlers to be busy")

        agent = (await alice.post("/api/agents", json={"name": "Helper"})).json["data"]

        async def delivered() -> bool:
            return bool(recorder.of(agent["id"]))

        await wait_until(delivered, "the free handler to receive the event")
        stuck.release.set()
        blocking.release.set()

    @staticmethod
    def _started(stuck: Stuck, blocking: BlockingFunction):
        async def check() -> bool:
            return stuck.started.is_set() and blocking.started.is_set()

        return check
