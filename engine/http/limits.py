"""Limits aiohttp enforces while parsing a request, before any of our code runs: the request line,
each header field, and how many headers. They are passed as the application's handler_args, so
every runner (the CLI server, gunicorn workers, test servers) applies them."""

from __future__ import annotations

from typing import Any

from engine.kernel import knobs
from engine.kernel.config import Config

DEFAULT_MAX_LINE_SIZE = 8190  # the request line (method, path and query string)
DEFAULT_MAX_FIELD_SIZE = 8190  # one header, name and value
DEFAULT_MAX_HEADERS = 128


def handler_args(config: Config) -> dict[str, Any]:
    env = config.extra
    return {
        "max_line_size": knobs.integer(env, "ENGINE_MAX_LINE_SIZE", DEFAULT_MAX_LINE_SIZE, minimum=256),
        "max_field_size": knobs.integer(env, "ENGINE_MAX_HEADER_SIZE", DEFAULT_MAX_FIELD_SIZE, minimum=256),
        "max_headers": knobs.integer(env, "ENGINE_MAX_HEADERS", DEFAULT_MAX_HEADERS, minimum=8),
    }
