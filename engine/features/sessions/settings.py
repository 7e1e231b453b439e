"""Session settings, declared for engine.kernel.settings (REDIS_URL, a core setting, moves sessions to Redis)."""

from __future__ import annotations

from engine.kernel.settings import Setting, duration, text

SETTINGS = (
    Setting(
        "ENGINE_SESSION_SECRET",
        text(),
        None,
        "encrypts cookie sessions, at least 32 bytes; the same on every instance",
        "auth",
        shown="development: generated into `.engine/session-secret`; production: required unless `REDIS_URL` is set",
    ),
    Setting(
        "ENGINE_SESSION_MAX_AGE",
        duration(),
        14 * 86400,
        "session lifetime (cookie and Redis entry)",
        "auth",
        shown="`14d`",
    ),
)
