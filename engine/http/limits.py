"""Limits aiohttp enforces while parsing a request, before any of our code runs: the request line,
each header field, and how many headers. They are passed as the application's handler_args, so
every runner (the CLI server, gunicorn workers, test servers) applies them."""

from __future__ import annotations

from typing import Any

from engine.kernel.config import Config


def handler_args(config: Config) -> dict[str, Any]:
    """The request line, one header (name and value) and the header count (engine.kernel.core_settings)."""
    return {
        "max_line_size": config.value("ENGINE_MAX_LINE_SIZE"),
        "max_field_size": config.value("ENGINE_MAX_HEADER_SIZE"),
        "max_headers": config.value("ENGINE_MAX_HEADERS"),
    }
