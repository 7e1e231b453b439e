"""Hypothesis profiles: ``ci`` (default, small and bounded) and ``long`` (HYPOTHESIS_PROFILE=long).

Every example talks to a real PostgreSQL, so there is no per-example deadline; the example
count is what bounds a run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

_COMMON = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])

settings.register_profile("ci", max_examples=30, database=None, **_COMMON)
# Failing examples of long runs are kept under .pytest_cache (ignored by git) and replayed first.
_EXAMPLES = DirectoryBasedExampleDatabase(os.path.join(".pytest_cache", "hypothesis-examples"))
settings.register_profile("long", max_examples=600, database=_EXAMPLES, **_COMMON)


def active() -> settings:
    """The profile named by HYPOTHESIS_PROFILE (default ``ci``)."""
    return settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
