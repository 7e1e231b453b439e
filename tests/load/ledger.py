"""An acknowledgement ledger for writes under faults, checked Jepsen-set style afterwards.

Every write carries a unique client reference. A 2xx is *acked*: the row must exist afterwards,
exactly once. A 503/504 or a dropped connection is *indeterminate*: it may or may not have
happened, and is counted either way. Anything else is recorded for the test to judge.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

INDETERMINATE = (503, 504)


@dataclass
class Ledger:
    acked: dict[str, Any] = field(default_factory=dict)  # ref -> response body's data
    indeterminate: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # unexpected answers, for the assertion message
    slowest: float = 0.0

    def record(self, ref: str, status: int | None, body: Any, headers: Any, elapsed: float) -> None:
        self.slowest = max(self.slowest, elapsed)
        self.statuses[status if status is not None else "dropped"] += 1
        if status is not None and 200 <= status < 300:
            self.acked[ref] = body["data"]
        elif status is None or status in INDETERMINATE:
            self.indeterminate.add(ref)
            if status is not None and not _retryable_problem(headers, body, status):
                self.problems.append(f"{ref}: {status} without problem+json and Retry-After: {body!r:.300}")
        else:
            self.problems.append(f"{ref}: unexpected {status}: {body!r:.300}")

    def reconcile(self, present_refs: list[str]) -> dict[str, int]:
        """Counts to report (and assert): lost and duplicates must be 0."""
        counts = Counter(present_refs)
        sent = set(self.acked) | self.indeterminate
        return {
            "acked": len(self.acked),
            "lost": sum(1 for ref in self.acked if counts[ref] == 0),
            "duplicates": sum(1 for n in counts.values() if n > 1),
            "phantoms": sum(1 for ref in counts if ref not in sent),
            "indeterminate": len(self.indeterminate),
            "indeterminate_present": sum(1 for ref in self.indeterminate if counts[ref]),
        }


def _retryable_problem(headers: Any, body: Any, status: int) -> bool:
    content_type = headers.get("Content-Type", "") if headers is not None else ""
    problem = content_type.startswith("application/problem+json") and isinstance(body, dict)
    return problem and body.get("status") == status and (status != 503 or "Retry-After" in headers)


async def timed_write(client: Any, path: str, body: dict[str, Any], ref: str, ledger: Ledger, seconds: float) -> None:
    """One POST recorded in the ledger; a client timeout counts as a dropped (hung) request."""
    started = time.perf_counter()
    try:
        result = await client.post(path, json=body, timeout=aiohttp.ClientTimeout(total=seconds))
        ledger.record(ref, result.status, result.json, result.headers, time.perf_counter() - started)
    except (TimeoutError, aiohttp.ClientError) as exc:
        ledger.record(ref, None, repr(exc), None, time.perf_counter() - started)
        if isinstance(exc, TimeoutError):
            ledger.problems.append(f"{ref}: no answer within {seconds} s")
