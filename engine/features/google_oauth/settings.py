"""Google sign-in settings, declared for engine.kernel.settings; sign-in is off without a client id."""

from __future__ import annotations

from engine.kernel.settings import Setting, items, text, url

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
        "the registered callback URL; required in production (it is never taken from the Host header)",
        "auth",
        shown="development: this server's `/auth/google/callback` on an allowed host",
    ),
    Setting(
        "ENGINE_GOOGLE_ALLOWED_HOSTS",
        items(),
        None,
        "development without `ENGINE_GOOGLE_REDIRECT_URI`: the Host names sign-in may redirect back to; "
        "others are a 400",
        "auth",
        shown="`localhost,127.0.0.1,::1`",
    ),
    Setting("ENGINE_LOGIN_REDIRECT", text(), "/", "where the browser goes after signing in", "auth"),
    Setting(
        "ENGINE_ADMINS",
        items(),
        None,
        "who gets the `admin` role when signing in with Google, and whose API keys keep it: user ids or "
        "verified e-mail addresses (comma-separated); carried into the session and the tokens `/auth/token` "
        "issues from it",
        "auth",
        shown="unset (no one)",
    ),
)
