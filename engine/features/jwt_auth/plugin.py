"""Built-in authentication: `Authorization: Bearer <JWT>`, and the `token` CLI command.

Configured by ENGINE_JWT_* variables (see README). An absent header is anonymous; a present but
bad token is always a 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web

from engine.features.jwt_auth.tokens import JwtSettings, Verifier, invalid, issue
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.kernel.settings import parse_duration
from engine.spec import Spec, load_spec

JWT = web.AppKey("jwt_verifier", Verifier)


def settings_for(spec: Spec, config: Config) -> JwtSettings:
    secret_file = os.path.normpath(os.path.join(spec.root, ".engine", "jwt-secret"))
    return JwtSettings.from_env(config.extra, development=not config.production, secret_file=secret_file)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[JWT] = Verifier(settings_for(spec, config))


@hookimpl(trylast=True)
async def shutdown(app: web.Application) -> None:
    jwks = app[JWT].settings.jwks
    if jwks is not None:
        await jwks.close()


@hookimpl(trylast=True)
async def identity_from_request(request: web.Request) -> Identity | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None  # another plugin's scheme (API keys, Basic ...)
    token = token.strip()
    if not token:
        raise invalid("the Authorization header has an empty Bearer token")
    return await request.app[JWT].verify(token)


def _token_command(args: argparse.Namespace, out) -> int:
    if not args.sub:
        out.error("--sub must be a user id: the server refuses a token whose 'sub' is empty")
        return 2
    spec = load_spec(args.spec)
    settings = settings_for(spec, Config.from_env(spec))
    ttl = parse_duration(args.ttl) if args.ttl else None
    if ttl is not None and settings.max_ttl is not None and ttl > settings.max_ttl:
        raise ConfigurationError(
            f"--ttl {args.ttl} exceeds ENGINE_JWT_MAX_TTL ({settings.max_ttl}s): the token would be refused"
        )
    out.plain(issue(settings, args.sub, args.role or [], ttl=ttl))
    return 0


@hookimpl
def register_commands(commands) -> None:
    token = commands.add_parser("token", help="print a signed access token (development and operations)")
    token.add_argument("--sub", required=True, help="the user id (users.id) the token speaks for")
    token.add_argument("--role", action="append", help="a role to grant, e.g. admin (repeatable)")
    token.add_argument("--ttl", help="lifetime: seconds or 15m, 1h, 7d (default ENGINE_ACCESS_TOKEN_TTL or 15m)")
    token.set_defaults(run=_token_command)


@hookimpl(trylast=True)
def register_openapi(document: dict) -> None:
    document["components"]["securitySchemes"]["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "`Authorization: Bearer <access token>`. In development, "
        "`resource-engine token --sub alice` prints one.",
    }
