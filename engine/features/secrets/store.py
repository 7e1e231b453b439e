"""Reading stored secrets back on the server (`reveal`), and re-encrypting them all (`rotate`).

These are the only statements that see a secret's stored form: every other read projects it
through engine/sql/outputs.py. Neither applies access rules; they are for server-side code (a
plugin calling a tool with the agent's credentials, the `keys rotate` command), never a route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlglot import exp

from engine.features.secrets.keys import FieldKeys, Undecryptable
from engine.features.secrets.values import decrypt_value, rotate_value, secret_fields
from engine.spec import Resource
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import column, table

BATCH = 500


def _stored(resource: Resource, names: list[str], after: bool) -> Compiled:
    """The stored secrets of a batch of rows (keyset by primary key), locked for the rotation."""
    pk = column(resource.primary_key, resource.table)
    conditions = [
        exp.or_(*[exp.Not(this=exp.Is(this=column(n, resource.table), expression=exp.Null())) for n in names])
    ]
    if after:
        conditions.append(pk > param("after"))
    query = exp.select(pk, *[column(n, resource.table) for n in names]).from_(table(resource.table))
    query = query.where(exp.and_(*conditions)).order_by(pk.copy()).limit(param("limit"))
    return compile_expression(query.lock())


def _one(resource: Resource, name: str) -> Compiled:
    query = exp.select(column(name, resource.table)).from_(table(resource.table))
    return compile_expression(query.where(column(resource.primary_key, resource.table).eq(param("pk"))))


def _rewrite(resource: Resource, names: list[str]) -> Compiled:
    assignments = [exp.EQ(this=column(n), expression=param(f"v_{n}")) for n in names]
    query = exp.Update(this=table(resource.table), expressions=assignments)
    return compile_expression(query.where(column(resource.primary_key, resource.table).eq(param("pk"))))


async def reveal(
    conn: asyncpg.Connection | asyncpg.Pool, resource: Resource, pk: Any, name: str, keys: FieldKeys
) -> Any:
    """The plain value of secret field `name` of the row `pk` (None when unset or no such row)."""
    field = resource.fields[name]
    if not field.write_only:
        raise ValueError(f"{resource.name}.{name} is not a writeOnly field")
    compiled = _one(resource, name)
    stored = await conn.fetchval(compiled.sql, *compiled.args({"pk": pk}))
    return decrypt_value(field, stored, keys)


@dataclass
class Rotation:
    rows: int = 0
    failed: int = 0  # values no configured key opens: left as they are


async def rotate(
    conn: asyncpg.Connection, resource: Resource, keys: FieldKeys, encrypt_plain: bool = False
) -> Rotation:
    """Re-encrypt every stored secret of `resource` with the newest key, a batch per transaction
    (`encrypt_plain`: also encrypt values stored in plain text, see values.rotate_value)."""
    fields = secret_fields(resource)
    names = [f.name for f in fields]
    result, after = Rotation(), None
    while True:
        async with conn.transaction():
            compiled = _stored(resource, names, after is not None)
            values = {"limit": BATCH, **({"after": after} if after is not None else {})}
            rows = await conn.fetch(compiled.sql, *compiled.args(values))
            for row in rows:
                await _rotate_row(conn, resource, fields, row, keys, result, encrypt_plain)
        if len(rows) < BATCH:
            return result
        after = rows[-1][resource.primary_key]


async def _rotate_row(
    conn, resource: Resource, fields, row, keys: FieldKeys, result: Rotation, encrypt_plain: bool
) -> None:
    try:
        rotated = {f"v_{f.name}": rotate_value(f, row[f.name], keys, encrypt_plain) for f in fields}
    except Undecryptable:
        result.failed += 1
        return
    compiled = _rewrite(resource, [f.name for f in fields])
    await conn.execute(compiled.sql, *compiled.args({"pk": row[resource.primary_key], **rotated}))
    result.rows += 1
