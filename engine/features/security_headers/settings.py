"""Security-header settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, integer, text

SETTINGS = (
    Setting("ENGINE_REFERRER_POLICY", text(strip=True), "no-referrer", "the `Referrer-Policy` header", "protection"),
    Setting(
        "ENGINE_HTML_CSP",
        text(strip=True),
        None,
        "the Content-Security-Policy of HTML pages that set none",
        "protection",
        shown="a strict policy (docs/protection.md, Security headers)",
    ),
    Setting(
        "ENGINE_HSTS_MAX_AGE",
        integer(minimum=0),
        63_072_000,
        "HSTS `max-age` in seconds, sent only with `ENGINE_ENV=production` (two years: the preload list's minimum)",
        "protection",
    ),
)
