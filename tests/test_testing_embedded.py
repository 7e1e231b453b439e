"""engine.testing's embedded PostgreSQL (no TEST_DATABASE_URL) stops with the test run that started
it: a run must not leave a server behind whose directory is gone (pgserver keeps its handles there)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psutil

INNER = """
def test_prints_the_url(engine_database_url):
    print("URL=" + engine_database_url)
"""


def servers_of(data_dir: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if data_dir in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_a_test_run_stops_the_embedded_postgresql_it_started(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    data_dir = re.search(r"URL=\S*host=(\S+)", run.stdout).group(1)

    assert servers_of(data_dir) == []
    assert not os.path.exists(data_dir)
