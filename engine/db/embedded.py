"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is unset: zero setup for a first run."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("engine.db")


def start_embedded(data_dir: str) -> str:
    """Start (or reuse) a PostgreSQL in `data_dir`; returns its connection URL.

    pgserver shares one server between processes that use the same directory and stops it
    when the last of them exits, so several CLI commands can run side by side.
    """
    import warnings

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains when XDG_RUNTIME_DIR is unset
        import pgserver  # imported lazily: only this path needs the bundled binaries

    os.makedirs(data_dir, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    url = server.get_uri()
    log.warning("DATABASE_URL is not set: using the embedded PostgreSQL in %s", data_dir)
    return url
