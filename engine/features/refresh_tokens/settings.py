"""Refresh-token settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, duration

SETTINGS = (
    Setting("ENGINE_REFRESH_TOKEN_TTL", duration(), 30 * 86400, "refresh-token lifetime", "auth", shown="`30d`"),
)
