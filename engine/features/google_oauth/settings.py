"""Google sign-in settings, declared for engine.kernel.settings; sign-in is off without a client id."""

from __future__ import annotations

from engine.kernel.settings import Setting, text, url

GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"

SETTINGS = (
    Setting("ENGINE_GOOGLE_CLIENT_ID", text(), None, "OAuth client id", "auth", shown="unset (Google sign-in off)"),
    Setting("ENGINE_GOOGLE_CLIENT_SECRET", text(), None, "OAuth client secret", "auth"),
    Setting(
        "ENGINE_GOOGLE_DISCOVERY_URL",
        url("https", "http"),
        GOOGLE_DISCOVERY,
        "OpenID discovery document of the provider",
        "auth",
    ),
    Setting(
        "ENGINE_GOOGLE_REDIRECT_URI",
        url("https", "http"),
        None,
        "the registered callback URL (set it behind a proxy)",
        "auth",
        shown="this server's `/auth/google/callback`, from the request",
    ),
    Setting("ENGINE_LOGIN_REDIRECT", text(), "/", "where the browser goes after signing in", "auth"),
)
