"""CORS settings, declared for engine.kernel.settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.kernel.settings import Setting, items


def origin(text: str) -> str:
    """`*`, or a scheme and host (and port) without a path: https://app.example.com."""
    if text == "*":
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise ValueError(text)
    return text.rstrip("/")


SETTINGS = (
    Setting(
        "ENGINE_CORS_ORIGINS",
        items(origin, "be comma-separated origins like https://app.example.com (or *)"),
        (),
        "comma-separated origins allowed cross-origin; `*` admits any origin without credentials; empty: none",
        "protection",
        shown="none",
        yaml="settings.cors_origins",
    ),
)
