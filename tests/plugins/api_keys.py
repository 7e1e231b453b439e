"""Example plugin: API keys instead of JWT, in a few dozen lines (described in docs/auth.md).

Clients send `Authorization: ApiKey <key>`. Keys live in an `api_keys` resource (owned by their
user, stored as SHA-256 hashes): `GET /api/api_keys` lists yours, `DELETE /api/api_keys/{id}`
revokes one, and `POST /auth/api-keys {"name": ...}` mints one and shows it once. Disable
`jwt_auth` in resources.yaml (`plugins: {disabled: [jwt_auth]}`) to make keys the only credential.
"""

from __future__ import annotations

import hashlib
import secrets

from aiohttp import web
from sqlglot import exp

from engine.plugin import (
    CONFIG,
    IDENTITY,
    MANAGERS,
    POOL,
    Identity,
    Unauthorized,
    column,
    compile_expression,
    hookimpl,
    json_response,
    param,
    read_object,
    table,
)

CHALLENGE = {"WWW-Authenticate": 'ApiKey realm="api"'}
OWNER_OF = compile_expression(
    exp.select(column("user_id")).from_(table("api_keys")).where(column("key_hash").eq(param("hash")))
)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@hookimpl
async def identity_from_request(request: web.Request) -> Identity | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "apikey":
        return None  # not ours: another plugin's scheme, or anonymous
    user_id = await request.app[POOL].fetchval(OWNER_OF.sql, *OWNER_OF.args({"hash": hash_key(key.strip())}))
    if user_id is None:
        raise Unauthorized("unknown or revoked API key", headers=CHALLENGE)
    return Identity(user_id, via="api_key")


async def mint(request: web.Request) -> web.Response:
    if request[IDENTITY] is None:
        raise Unauthorized("sign in to create an API key", headers=CHALLENGE)
    body = await read_object(request, request.app[CONFIG].body_limit)
    key = "ak_" + secrets.token_urlsafe(32)
    row = await request.app[MANAGERS]["api_keys"].create(
        {"name": body.get("name"), "key_hash": hash_key(key)}, request[IDENTITY]
    )
    return json_response({"data": {"id": row["id"], "name": row["name"], "key": key}}, status=201)


@hookimpl
def register_routes(app, spec):
    return [web.post("/auth/api-keys", mint)]


@hookimpl
def register_openapi(document: dict) -> None:
    document["components"]["securitySchemes"]["apiKey"] = {"type": "apiKey", "in": "header", "name": "Authorization"}
    document["paths"]["/auth/api-keys"] = {
        "post": {"summary": "Mint an API key (shown once)", "responses": {"201": {"description": "The new key."}}}
    }
