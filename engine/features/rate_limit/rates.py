"""Rates such as `100/minute`: how many requests a bucket holds and how fast it refills."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.kernel.errors import ConfigurationError

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^([1-9][0-9]{0,8})/(second|minute|hour|day)$")


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period` seconds: a bucket of `limit` tokens refilled evenly over `period`."""

    limit: int
    period: int
    text: str

    @property
    def per_second(self) -> float:
        return self.limit / self.period


def parse_rate(text: str, where: str) -> Rate | None:
    """`N/second|minute|hour|day`, or `off` (None: not limited); `where` names the setting in errors."""
    value = str(text).strip().lower()
    if value == "off":
        return None
    match = _RATE.match(value)
    if match is None:
        raise ConfigurationError(f"{where} must look like 100/minute (per second, minute, hour or day) or 'off'")
    return Rate(int(match[1]), PERIODS[match[2]], value)
