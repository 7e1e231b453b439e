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


def stop_embedded(data_dir: str) -> None:
    """Give up this process's handle on the server `start_embedded` started in `data_dir`, which
    stops it when no other process holds one. Call it before removing the directory: pgserver
    keeps its list of handles there, so a server whose directory is gone is never stopped."""
    import pgserver

    pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()  # this process's handle, as started
