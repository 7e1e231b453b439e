"""JWT settings (ENGINE_JWT_*, ENGINE_ACCESS_TOKEN_TTL), declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, choice, duration, integer, text, url

SETTINGS = (
    Setting(
        "ENGINE_JWT_SECRET",
        text(keep_empty=True),
        None,
        "HS256 signing and verification secret, at least 32 bytes (a shorter one refuses to start); "
        "the same on every instance",
        "auth",
        shown="development: generated into `.engine/jwt-secret`; production: required unless a public key or "
        "JWKS is set",
    ),
    Setting(
        "ENGINE_JWT_ALGORITHM",
        choice("HS256", "RS256", "ES256"),
        "RS256",
        "algorithm of `ENGINE_JWT_PUBLIC_KEY` / the JWKS: `RS256` or `ES256`",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_PUBLIC_KEY",
        text(),
        None,
        "PEM public key (or a path to one) that verifies RS256/ES256 tokens",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_JWKS_URL",
        url("https", "http"),
        None,
        "JWKS URL whose keys (by `kid`) verify RS256/ES256 tokens (cached, refetched on an unknown `kid`)",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_KID",
        text(),
        None,
        "key id written into issued tokens; tokens with another `kid` are refused",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_ISSUER",
        text(strip=True),
        None,
        "required `iss` (and written into issued tokens); required in production, `off` accepts any (logged)",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_AUDIENCE",
        text(strip=True),
        None,
        "required `aud` (and written into issued tokens); required in production, `off` accepts any (logged)",
        "auth",
    ),
    Setting(
        "ENGINE_JWT_MAX_TTL",
        duration(),
        None,
        "longest lifetime (`exp - iat`) an accepted access token may have, in the format of "
        "`ENGINE_ACCESS_TOKEN_TTL`; longer ones and tokens without `iat` are 401",
        "auth",
        shown="unset: no limit",
    ),
    Setting("ENGINE_JWT_LEEWAY", integer(), 30, "seconds of clock skew allowed on `exp` and `nbf`", "auth"),
    Setting("ENGINE_ACCESS_TOKEN_TTL", duration(), 900, "access-token lifetime: seconds, or `15m`, `1h`, `7d`", "auth"),
)
