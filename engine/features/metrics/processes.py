"""CPU, memory and open files of every process of a gunicorn cluster, labelled by pid.

prometheus-client's multiprocess files hold counters and gauges, not the ``process_*`` series its
ProcessCollector reads from /proc for the current process only. At scrape time the worker that
answers reads /proc for the master and each of its sibling workers instead, so one scrape shows
the whole cluster: ``sum(process_resident_memory_bytes)`` is the cluster's memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

_PROC = "/proc"


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            # "pid (comm) state ppid ...": comm may hold spaces or parentheses, so split after the last ')'.
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def cluster_pids(master: int) -> list[int]:
    """The master and its live children (the workers), from /proc."""
    children = []
    for entry in os.listdir(_PROC):
        if entry.isdigit() and _parent_of(int(entry)) == master:
            children.append(int(entry))
    return [master, *sorted(children)]


class ClusterProcessCollector(Collector):
    """``process_*`` series for each process of the cluster this worker belongs to, with a ``pid`` label."""

    def __init__(self, master: int | None = None):
        self.master = master or os.getppid()

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in cluster_pids(self.master):
            collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)
            for metric in collector.collect():
                target = merged.setdefault(metric.name, Metric(metric.name, metric.documentation, metric.type))
                for sample in metric.samples:
                    target.samples.append(sample._replace(labels={**sample.labels, "pid": str(pid)}))
        yield from merged.values()
