"""The hub: the slow-subscriber rule under batched reads (too slow means a full buffer when a batch
arrives), and streams opened while the server shuts down."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.features.events.hub import SHUTTING_DOWN, TOO_SLOW, Hub
from engine.features.events.payload import Event


def events(first: int, count: int) -> list[Event]:
    at = datetime.now(UTC)
    return [Event(i, "agents", "created", str(i), None, at, {}, None) for i in range(first, first + count)]


def test_a_batch_larger_than_the_buffer_reaches_a_subscriber_that_keeps_up():
    hub = Hub()
    subscriber = hub.subscribe(None, limit=4)

    hub.publish(events(1, 10))
    received = list(subscriber.buffer)
    subscriber.buffer.clear()  # what sending them does
    hub.publish(events(11, 10))

    assert [e.id for e in received] == list(range(1, 11))
    assert [e.id for e in subscriber.buffer] == list(range(11, 21))
    assert (subscriber.closed, hub.dropped, hub.position) == (None, 0, (0, 20))


def test_a_subscriber_whose_buffer_is_still_full_at_the_next_batch_is_closed():
    hub = Hub()
    subscriber = hub.subscribe(None, limit=4)

    hub.publish(events(1, 4))
    hub.publish(events(5, 1))

    assert subscriber.closed == TOO_SLOW
    assert hub.dropped == 1 and subscriber not in hub.subscribers


def test_events_of_other_resources_do_not_fill_a_filtered_buffer():
    hub = Hub()
    subscriber = hub.subscribe(frozenset({"teams"}), limit=1)

    hub.publish(events(1, 5))
    hub.publish(events(6, 5))

    assert subscriber.closed is None and not subscriber.buffer


def test_a_stream_opened_after_shutdown_began_is_closed_at_once():
    """A draining worker still answers requests on its open connections: a reconnecting stream among
    them must end with its retry hint too, or the worker could never finish draining."""
    hub = Hub()
    before = hub.subscribe(None, limit=4)
    hub.close_all(SHUTTING_DOWN)
    after = hub.subscribe(None, limit=4)

    assert before.closed == after.closed == SHUTTING_DOWN
    assert after not in hub.subscribers
