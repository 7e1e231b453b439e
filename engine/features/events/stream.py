"""GET /api/events/stream: committed events as server-sent events, filtered by the read rules.

A subscriber is registered before anything is read from the table, so a resume (Last-Event-ID)
replays the table and then continues from the live buffer, skipping ids already sent: no gap,
no duplicate. Writes go straight to the socket; a client that stops reading fills its buffer
and is disconnected (see hub.py) rather than holding anything else up.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from multidict import MultiMapping

from engine.features.events import positions, sse
from engine.features.events.hub import REPLAY_LIMIT, StreamClaim, Subscriber
from engine.features.events.positions import Position
from engine.features.events.runtime import EVENTS, EventsRuntime
from engine.features.events.tables import EVENTS as EVENTS_TABLE
from engine.features.events.tables import PRUNED_CURSOR, SELECT_AFTER, select_after_where
from engine.features.events.visibility import Visibility, visibility_for
from engine.features.timeouts.plugin import long_lived
from engine.http.handlers import BEARER_CHALLENGE
from engine.http.keys import IDENTITY, PLUGINS, POOL, REQUEST_ID, SPEC
from engine.kernel.errors import BadRequest, Problem, Unauthorized
from engine.kernel.hooks import call_all
from engine.spec import Spec

log = logging.getLogger("engine.events")
PARAMETERS = ("resources", "last_event_id")
RETRY_MS = 2000
MAX_EVENT_ID = 2**63 - 1  # event ids are bigint
MAX_ID_DIGITS = len(str(MAX_EVENT_ID))
STREAMS_RETRY_AFTER = 5  # seconds: streams end at no known time; a polite client waits a little


class TooManyStreams(Problem):
    status = 429
    title = "Too Many Requests"
    slug = "too-many-streams"


class ResumeTooOld(Problem):
    status = 410
    title = "Gone"
    slug = "events-pruned"


def parse_resources(spec: Spec, query: MultiMapping[str]) -> tuple[str, ...] | None:
    for key in query:
        if key not in PARAMETERS:
            raise BadRequest(f"unknown query parameter {key[:100]!r}; use one of: {', '.join(PARAMETERS)}")
    values = query.getall("resources", [])
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("'resources' is given more than once; use one comma-separated list", parameter="resources")
    names = tuple(dict.fromkeys(n.strip() for n in values[0].split(",")))
    for name in names:
        if name not in spec.resources:
            raise BadRequest(
                f"unknown resource {name[:100]!r} in 'resources'; resources are: {', '.join(spec.resources)}",
                parameter="resources",
            )
    return names


def parse_last_event_id(request: web.Request) -> int | None:
    """The Last-Event-ID header (browsers send it on reconnect) or ?last_event_id= (first connect).

    Only ASCII digits within the id column's range (bigint): `str.isdigit` alone would let
    superscripts and other Unicode digits through, and an id past 2**63-1 would reach the driver.
    """
    name, text = "Last-Event-ID", request.headers.get("Last-Event-ID", "").strip(" \t")
    if not text:
        name, text = "last_event_id", request.query.get("last_event_id", "").strip(" \t")
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS and int(text) <= MAX_EVENT_ID):
        raise BadRequest(f"{name} must be the id of an event: a whole number from 0 to {MAX_EVENT_ID}", parameter=name)
    return int(text)


async def resume_position(pool: positions.Executor, last_id: int) -> Position:
    """Where a resume after event `last_id` continues; 410 when events after it were pruned."""
    pruned = await positions.load_cursor(pool, PRUNED_CURSOR)
    position = (0, 0) if last_id == 0 else await positions.of_event(pool, last_id)
    if position is None or (pruned is not None and position < pruned):
        raise ResumeTooOld(
            f"event {last_id} is no longer in the outbox{' (pruned)' if pruned else ''}, so resuming after it "
            "could skip events; reload the data and reconnect without Last-Event-ID"
        )
    return position


class Streamer:
    """One connection's loop: replay, then live events and keep-alives, until closed."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        runtime: EventsRuntime,
        subscriber: Subscriber,
        visibility: Visibility,
    ):
        self.request, self.response, self.runtime = request, response, runtime
        self.subscriber, self.visibility = subscriber, visibility
        self.pool = request.app[POOL]
        self.writing = False
        subscriber.on_close = self._abort_if_stalled

    def _abort_if_stalled(self) -> None:
        """Closing a subscriber blocked on a write to a client that reads nothing: drop the socket."""
        if self.writing and self.request.transport is not None:
            self.request.transport.abort()

    async def write(self, data: bytes) -> None:
        self.writing = True
        try:
            await self.response.write(data)
        finally:
            self.writing = False

    async def run(self, resume: Position | None) -> None:
        before: positions.Snapshot | None = None
        if resume is not None:
            await self.write(sse.retry(RETRY_MS) + sse.comment("connected"))
            position = await self.replay(resume)
        else:  # from now on: read after subscribing, so nothing newer is lost, and before "connected",
            # so a client that writes once connected sees its write
            position, before = await positions.start_snapshot(self.pool)
            await self.write(sse.retry(RETRY_MS) + sse.comment("connected"))
        keepalive = self.runtime.settings.keepalive
        while not self.subscriber.closed:
            batch = await self.subscriber.next_batch(keepalive)
            if batch is None:
                await self.write(sse.comment("keep-alive"))
                continue
            batch = [event for event in batch if event.position > position]
            if before is not None:  # events committed before "from now on" began, settled since
                batch = [event for event in batch if not before.committed_before(event.position[0])]
                if batch and batch[0].position[0] >= before.xmax:
                    before = None  # past every transaction the snapshot knew of
            if not batch:
                continue
            position = batch[-1].position
            visible = await self.visibility.visible(self.pool, self.runtime.cache, batch)
            if visible:
                await self.write(b"".join(event.sse for event in visible))
        await self.write(sse.comment(self.subscriber.closed))

    async def replay(self, position: Position) -> Position:
        """Send what settled after `position`; live events meanwhile are dropped and re-read.

        Replay stops at the first event that has not settled: the dispatcher publishes it, and
        everything after it, once it has, and this subscriber is already listening.
        """
        self.subscriber.catching_up = True
        batch, budget = self.runtime.settings.batch_size, self.runtime.settings.max_replay
        rule = self.visibility.predicate()
        if rule is None:
            compiled = SELECT_AFTER
        else:
            compiled = self.runtime.cache.get(
                ("replay", rule.key), lambda: select_after_where(rule.build(EVENTS_TABLE))
            )
        while True:
            self.subscriber.missed = False
            while True:
                limit = min(batch, budget)
                values = {**(rule.params if rule else {}), **positions.after(position, limit)}
                rows = await self.pool.fetch(compiled.sql, *compiled.args(values))
                events, blocked = positions.settled(rows)
                if events:
                    await self.write(b"".join(event.sse for event in events))
                    position = events[-1].position
                    budget -= len(events)
                if budget <= 0:  # bounded work per request: the client resumes from the last id sent
                    self.subscriber.close(REPLAY_LIMIT)
                    return position
                if blocked or len(rows) < limit:
                    break
            if not self.subscriber.missed:  # no await since the last read: nothing can slip in between
                self.subscriber.catching_up = False
                return position


@long_lived  # streams outlive the request deadline (ENGINE_REQUEST_TIMEOUT) by design
async def stream(request: web.Request) -> web.StreamResponse:
    runtime = request.app[EVENTS]
    identity = request[IDENTITY]
    if identity is None:
        raise Unauthorized("sign in to follow events", headers=BEARER_CHALLENGE)
    names = parse_resources(request.app[SPEC], request.query)
    last_id = parse_last_event_id(request)
    cap = runtime.settings.max_streams
    claim = runtime.hub.claim_stream(identity.user_id, cap, lambda: request.transport)
    if claim is None:
        raise TooManyStreams(
            f"you have {cap} event streams open, the most one user may hold on this server; "
            "close one, or share one stream between tabs",
            headers={"Retry-After": str(STREAMS_RETRY_AFTER)},
        )
    try:
        return await _serve(request, runtime, names, last_id, claim)
    finally:
        runtime.hub.release_stream(claim)


async def _serve(
    request: web.Request, runtime: EventsRuntime, names: tuple[str, ...] | None, last_id: int | None, claim: StreamClaim
) -> web.StreamResponse:
    visibility = await visibility_for(request, names)
    resume = None if last_id is None else await resume_position(request.app[POOL], last_id)
    subscriber = runtime.hub.subscribe(
        None if visibility.everything else visibility.resources, runtime.settings.stream_buffer
    )
    claim.subscriber = subscriber
    response = web.StreamResponse(
        headers={
            "Content-Type": sse.CONTENT_TYPE,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass each event through at once
            "X-Request-ID": request[REQUEST_ID],
        }
    )
    try:
        await response.prepare(request)
        await Streamer(request, response, runtime, subscriber, visibility).run(resume)
        await response.write_eof()
    except asyncio.CancelledError:
        raise
    except ConnectionError:
        pass  # the client left, or was disconnected for being too slow; it resumes with Last-Event-ID
    except Exception as error:  # the response has started: no problem document can follow
        log.exception("event stream failed request_id=%s", request[REQUEST_ID])
        await call_all(request.app[PLUGINS].hook.on_error, request=request, error=error)
    finally:
        runtime.hub.unsubscribe(subscriber)
    return response
