"""The nothing-lost load test, short form (LOAD_SECONDS, default 10; the long form is `python -m tests.load`).

A two-worker cluster of the example app takes a mixed load: reads, writes with Idempotency-Key
and retried POSTs, nested team routes, event listing and live event streams. Afterwards every
acknowledged create is present with its owner, no retry made a duplicate, every acknowledged
change has exactly one event, every stream saw its user's creates, and no request failed.
Each worker is recycled every RECYCLE_AFTER requests (plus jitter), so that every run also
crosses several recycles, which must stay invisible to the clients (no reset connection).
"""

from __future__ import annotations

import json
import os

from load.scenario import load_test

SECONDS = float(os.environ.get("LOAD_SECONDS", "10"))
RECYCLE_AFTER = 300  # requests per worker; production's default is 10,000


async def test_mixed_load_loses_nothing_and_fails_no_request(engine_database_url):
    report = await load_test(
        engine_database_url, seconds=SECONDS, users=12, streams=3, workers=2, max_requests=RECYCLE_AFTER
    )
    print(json.dumps(report, indent=2))
    figures, load = report["nothing_lost"], report["load"]
    assert figures["acked_creates"] > 0 and figures["retried_posts"] > 0 and figures["stream_events_received"] > 0
    assert (figures["lost"], figures["wrong_owner"], figures["deleted_but_present"]) == (0, 0, 0), figures
    assert figures["duplicates"] == 0 and figures["unacknowledged_rows"] == 0, figures
    assert (figures["events_created"], figures["events_updated"], figures["events_deleted"]) == (
        figures["acked_creates"],
        figures["acked_updates"],
        figures["acked_deletes"],
    ), figures
    assert figures["stream_missing"] == 0, figures
    assert load["server_errors"] == 0 and not load["connection_errors"], load
    assert report["unexpected_answers"] == [], report["unexpected_answers"]
    assert report["server_exit_code"] == 0
