"""The OpenAPI 3.1 document, derived from the spec and extended by plugins.

`build_document` makes it from scratch (the `openapi` command, tests); `document_for(app)`
builds it once per app, on first use, so every plugin's state is in place by then.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from engine.features.openapi.document import build_document, core_document, finish_security, operations
from engine.http.keys import CONFIG, PLUGINS, SPEC

__all__ = ["build_document", "core_document", "document_bytes", "document_for", "finish_security", "operations"]


@dataclass
class _Cached:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    document: dict[str, Any] | None = None
    body: bytes = b""


CACHE = web.AppKey("openapi_document", _Cached)


def prepare(app: web.Application) -> None:
    """Reserve the per-app cache; call while the app is built (the `configure` hook)."""
    if CACHE not in app:
        app[CACHE] = _Cached()


async def _cached(app: web.Application) -> _Cached:
    cached = app[CACHE]
    async with cached.lock:
        if cached.document is None:
            config = app[CONFIG]
            cached.document = await build_document(
                app[SPEC], app[PLUGINS], app, page_size=config.page_size, max_page_size=config.max_page_size
            )
            cached.body = orjson.dumps(cached.document)
    return cached


async def document_for(app: web.Application) -> dict[str, Any]:
    """The app's document (treat it as read-only: it is shared)."""
    return (await _cached(app)).document or {}


async def document_bytes(app: web.Application) -> bytes:
    return (await _cached(app)).body
