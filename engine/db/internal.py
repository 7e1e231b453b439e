"""Tables the engine and its plugins keep for themselves (refresh tokens, events, idempotency keys).

They are not resources and not part of resources.yaml, so they are created at start-up with
CREATE TABLE IF NOT EXISTS, built from the same table models as migrations; a column a later
release added to a model is added to an existing table the same way. Names start with
`_engine_` so they never collide with a resource's table.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from sqlglot import exp

from engine.sql import ddl


def table_model(
    name: str,
    columns: dict[str, dict[str, Any]],
    primary_key: str,
    *,
    unique: dict[str, list[str]] | None = None,
    indexes: dict[str, list[list[Any]]] | None = None,
) -> dict[str, Any]:
    """A table model (see engine.migrations.model) for an internal table.

    Column specs: {"type": "text", "nullable": False, "default": {"kind": "now"|"uuid"} or
    {"kind": "value", "value": ..., "type": ...}}.
    """
    return {
        "table": name,
        "columns": columns,
        "primary_key": primary_key,
        "checks": {},
        "unique": unique or {},
        "foreign_keys": {},
        "indexes": indexes or {},
    }


def create_statements(model: dict[str, Any]) -> list[str]:
    """CREATE TABLE / INDEX IF NOT EXISTS for an internal table, rendered once per model: every app
    start (each worker, each reload, each test's app) runs them, and sqlglot's rendering is the cost."""
    key = orjson.dumps(model, default=repr)  # the model as written, its order included
    statements = _RENDERED.get(key)
    if statements is None:
        statements = _RENDERED[key] = _render(model)
    return list(statements)


_RENDERED: dict[bytes, tuple[str, ...]] = {}  # the few internal table models of the features


def _render(model: dict[str, Any]) -> tuple[str, ...]:
    create = ddl.create_table(model)
    create.set("exists", True)
    statements = [ddl.render(create)]
    for name, cols in model["indexes"].items():
        index = ddl.create_index(name, model["table"], cols)
        index.set("exists", True)
        statements.append(ddl.render(index))
    return tuple(statements)


_LOCK_KEY = 0x5E50_0C3F  # serializes concurrent start-ups: IF NOT EXISTS alone races in PostgreSQL
_LOCK = ddl.render(
    exp.select(exp.Anonymous(this="pg_advisory_xact_lock", expressions=[exp.Parameter(this=exp.Literal.number(1))]))
)


_COLUMNS = ddl.render(
    exp.select(exp.column("column_name"))
    .from_(exp.table_("columns", db="information_schema"))
    .where(
        exp.and_(
            exp.column("table_schema").eq(exp.Anonymous(this="current_schema", expressions=[])),
            exp.column("table_name").eq(exp.Parameter(this=exp.Literal.number(1))),
        )
    )
)


async def ensure_tables(pool: asyncpg.Pool, *models: dict[str, Any]) -> None:
    """Create the internal tables if they are missing; safe to run in every worker at start-up."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK, _LOCK_KEY)
        for model in models:
            create_table, *create_indexes = create_statements(model)
            await conn.execute(create_table)
            present = {row[0] for row in await conn.fetch(_COLUMNS, model["table"])}
            for name, spec in model["columns"].items():
                if name not in present:  # ALTER only when needed: it locks the table against every writer
                    await conn.execute(ddl.render(ddl.add_column(model["table"], name, spec)))
            for statement in create_indexes:
                await conn.execute(statement)
