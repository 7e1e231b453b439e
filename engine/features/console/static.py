"""The console's one script and one stylesheet: package files, read once, served with an ETag."""

from __future__ import annotations

import hashlib
from importlib import resources as package_files

from aiohttp import web

from engine.kernel.errors import NotFound

STATIC_PATH = "/console/static/{name}"
FILES = {"console.js": "text/javascript", "console.css": "text/css"}


def _load() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, content type, ETag)."""
    files = {}
    for name, content_type in FILES.items():
        content = package_files.files("engine.features.console").joinpath("static", name).read_bytes()
        files[name] = (content, content_type, '"' + hashlib.sha256(content).hexdigest()[:32] + '"')
    return files


_FILES = _load()


def asset_urls() -> dict[str, str]:
    """Each file's URL with its hash: a new version is a new URL, so it may be cached for long."""
    return {name: f"/console/static/{name}?v={etag.strip(chr(34))[:12]}" for name, (_, _, etag) in _FILES.items()}


async def static_file(request: web.Request) -> web.Response:
    found = _FILES.get(request.match_info["name"])
    if found is None:
        raise NotFound(f"no console file {request.match_info['name'][:100]!r}")
    content, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=content, content_type=content_type, charset="utf-8", headers=headers)
