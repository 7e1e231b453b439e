"""NOTIFY with a payload scoped to the current schema, for features that tell other processes of a change.

The payload is ``<schema>:<value>``, so deployments that share one database (a schema each) never act
on each other's notices. Listeners split it at the first ``:``.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import literal

CURRENT_SCHEMA = exp.Anonymous(this="current_schema", expressions=[])


def schema_notice(value: str) -> Compiled:
    """``SELECT pg_notify($channel, concat(current_schema(), ':', $<value>::text))``."""
    payload = exp.Anonymous(
        this="concat", expressions=[CURRENT_SCHEMA.copy(), literal(":"), exp.cast(param(value), "text")]
    )
    return compile_expression(exp.select(exp.Anonymous(this="pg_notify", expressions=[param("channel"), payload])))
