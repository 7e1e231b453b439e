"""Built-in secret fields: a schema property marked `writeOnly: true` is encrypted at rest.

Values are encrypted in `before_write` (after validation, so the schema's rules apply to the plain
value) with ENGINE_FIELD_KEYS; reads never see them, because every statement projects a secret
through its mask (engine/sql/outputs.py): responses, embeds, events, cached bodies and replays
all carry "set" markers only. The write hooks live on a per-app object holding that app's keys.
See docs/resources.md (Secret fields) and docs/deployment.md (keys and rotation).
"""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg
from aiohttp import web
from cryptography.fernet import Fernet

from engine.features.secrets.keys import FieldKeys, configured_keys, key_file, load_keys
from engine.features.secrets.store import reveal, rotate
from engine.features.secrets.values import encrypt_columns, secret_fields
from engine.http.app import run_on_database
from engine.http.keys import PLUGINS, POOL, SPEC
from engine.kernel.config import Config
from engine.kernel.hooks import call_all, hookimpl
from engine.kernel.plugins import build_plugin_manager
from engine.spec import Resource, Spec, load_spec

FIELD_KEYS = web.AppKey("field_keys", FieldKeys)
WRITER = "secrets.writer"


def keys_for(spec: Spec, config: Config) -> FieldKeys | None:
    """This project's keys, or None when no schema has a secret field (nothing to encrypt)."""
    if not any(secret_fields(resource) for resource in spec.resources.values()):
        return None
    return load_keys(config.extra, development=not config.production, key_file=key_file(spec.root))


class SecretWriter:
    """Encrypts the secret values of each write of this app (their fields looked up once)."""

    def __init__(self, spec: Spec, keys: FieldKeys):
        self.keys = keys
        self._fields = {name: secret_fields(r) for name, r in spec.resources.items() if secret_fields(r)}

    @hookimpl(trylast=True)
    def write_needs_transaction(self) -> bool:
        return False  # encrypting needs no statement of its own

    @hookimpl(trylast=True)
    def before_write(self, resource: Resource, data: dict[str, Any] | None) -> None:
        fields = self._fields.get(resource.name)
        if fields and data:
            encrypt_columns(fields, data, self.keys)


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    keys = keys_for(spec, config)  # production without ENGINE_FIELD_KEYS refuses to start here
    if keys is not None:
        app[FIELD_KEYS] = keys
        app[PLUGINS].register(SecretWriter(spec, keys), name=WRITER)


async def reveal_secret(app: web.Application, resource: str, pk: Any, name: str) -> Any:
    """The plain value of secret field `name` of row `pk` (None when unset or no such row).

    For server-side code only (a plugin calling a tool with an agent's credentials): no access
    rule applies, so never hand the result to a client.
    """
    return await reveal(app[POOL], app[SPEC].resources[resource], pk, name, app[FIELD_KEYS])


# --- resource-engine keys ... ------------------------------------------------------------------


def _rotate_command(args: argparse.Namespace, out) -> int:
    spec = load_spec(args.spec)
    config = Config.from_env(spec)
    keys = keys_for(spec, config) or configured_keys(config, spec.root)  # plugins' values (webhooks) use them too
    if keys is None:
        out.ok("no schema has a writeOnly field and ENGINE_FIELD_KEYS is not set: nothing to rotate")
        return 0
    hook = build_plugin_manager(spec).hook.rotate_field_keys

    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
        resources = [r for r in spec.resources.values() if secret_fields(r)]
        done = {r.name: await rotate(conn, r, keys, args.encrypt_plain) for r in resources}
        return done, await call_all(hook, conn=conn, keys=keys)  # what plugins keep (rotate_field_keys)

    failed = 0
    results, others = run_on_database(config, work)
    for name, result in results.items():
        out.info(f"{name}: {result.rows} row(s) re-encrypted with the newest key")
        failed += result.failed
    if failed:
        out.error(
            f"{failed} row(s) hold a value no key in ENGINE_FIELD_KEYS opens; they were left as they are "
            "(values stored before the field was writeOnly: run again with --encrypt-plain)"
        )
    for what, rotated, unopened in others:
        out.info(f"{what}: {rotated} value(s) re-encrypted with the newest key")
        if unopened:
            out.error(f"{what}: {unopened} no key in ENGINE_FIELD_KEYS opens; left as they are")
        failed += unopened
    if failed:
        return 1
    out.ok(f"every secret is encrypted with the newest of {keys.count} key(s)")
    return 0


def _new_command(args: argparse.Namespace, out) -> int:
    out.plain(Fernet.generate_key().decode())
    return 0


@hookimpl
def register_commands(commands) -> None:
    keys = commands.add_parser(
        "keys", help="keys of secret (writeOnly) fields and webhook signing secrets: make one, rotate"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="print a new key for ENGINE_FIELD_KEYS")
    new.set_defaults(run=_new_command)
    rotate_parser = actions.add_parser(
        "rotate",
        help="re-encrypt every stored secret (and webhook signing secret) with the first key of ENGINE_FIELD_KEYS",
    )
    rotate_parser.add_argument(
        "--encrypt-plain",
        action="store_true",
        help="also encrypt values stored in plain text (a field newly marked writeOnly)",
    )
    rotate_parser.set_defaults(run=_rotate_command)
