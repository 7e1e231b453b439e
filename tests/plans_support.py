"""The plan PostgreSQL runs for a statement the engine sends: the generic plan.

The engine's connections use `plan_cache_mode = force_generic_plan` (ENGINE_DB_PLAN_CACHE_MODE): each
statement shape is planned once, without its values. So a plan test must look at that plan, not at
the custom plan `EXPLAIN <sql>` with values would show.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from engine.db.pool import connect


@asynccontextmanager
async def _prepared(api: Any, sql: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's schema with `sql` prepared as `_plan_test` under the generic plan."""
    conn = await connect(api.database_url, schema=api.schema)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE _plan_test AS {sql}")
            yield conn
            await conn.execute("DEALLOCATE _plan_test")
    finally:
        await conn.close()


async def generic_plan(api: Any, sql: str) -> dict:
    """`EXPLAIN (FORMAT JSON)` of `sql`'s generic plan, on a connection of the test's schema."""
    count = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
    async with _prepared(api, sql) as conn:
        nulls = ", ".join(["NULL"] * count)
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE _plan_test{f'({nulls})' if count else ''}")
    return plan[0]["Plan"]


async def executed_plan(api: Any, sql: str, args: tuple) -> dict:
    """`EXPLAIN (ANALYZE, FORMAT JSON)` of `sql`'s generic plan run with `args`: the plan with each
    node's actual loops (0 for a subplan PostgreSQL never had to compute)."""
    async with _prepared(api, sql) as conn:
        types = await conn.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", "_plan_test"
        )
        literals = []  # EXECUTE takes no bound parameters: each value as a typed literal, written by the server
        for value, sql_type in zip(args, types, strict=True):
            text = await conn.fetchval(f"SELECT quote_nullable(CAST($1::{sql_type} AS text))", value)
            literals.append(f"CAST({text} AS {sql_type})")
        values = f"({', '.join(literals)})" if literals else ""
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE _plan_test{values}")
    return plan[0]["Plan"]
