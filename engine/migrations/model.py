"""The database shape a spec asks for, as plain JSON-able dicts ("table models").

Migration files carry the model they produce as a snapshot, so `migrate make` can diff the
spec against the migrations without a database.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine.spec import Resource, Spec
from engine.sql.search import column_models, index_models

PG_NAME_MAX = 63


def constraint_name(table: str, cols: list[str] | tuple[str, ...], suffix: str) -> str:
    """PostgreSQL-style names, shortened with a hash when they would pass 63 bytes."""
    name = "_".join([table, *cols, suffix])
    if len(name) <= PG_NAME_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: PG_NAME_MAX - len(suffix) - 10]}_{digest}_{suffix}"


def _default(field) -> dict[str, Any] | None:
    if field.engine_managed:
        return {"kind": "now"}
    if field.generated:
        return {"kind": "uuid"}
    if field.has_default:
        return {"kind": "value", "value": field.default, "type": field.sql_type}
    return None


def table_model(resource: Resource, spec: Spec) -> dict[str, Any]:
    table = resource.table
    columns = {
        f.name: {"type": f.sql_type, "nullable": f.nullable, "default": _default(f)} for f in resource.fields.values()
    }
    checks = {
        constraint_name(table, [f.name], "check"): {"column": f.name, "values": list(f.enum)}
        for f in resource.fields.values()
        if f.enum
    }
    unique = {constraint_name(table, list(cols), "key"): list(cols) for cols in resource.unique}
    foreign_keys = {}
    for col, ref in resource.references.items():
        target = spec.resources[ref.resource]
        foreign_keys[constraint_name(table, [col], "fkey")] = {
            "column": col,
            "ref_table": target.table,
            "ref_column": target.primary_key,
            "on_delete": ref.on_delete,
        }
    indexes = {}
    for index in resource.indexes:
        cols = [[c.name, c.descending] for c in index]
        indexes[constraint_name(table, [c.name for c in index], "idx")] = cols
    leading = {cols[0][0] for cols in indexes.values()} | {cols[0] for cols in unique.values()}
    leading.add(resource.primary_key)
    for fk in foreign_keys.values():
        if fk["column"] not in leading:
            indexes[constraint_name(table, [fk["column"]], "idx")] = [[fk["column"], False]]
    columns.update(column_models(resource))  # full-text search: stored tsvector columns (engine.sql.search)
    indexes.update(index_models(resource))  # ... and their GIN indexes
    return {
        "table": table,
        "columns": columns,
        "primary_key": resource.primary_key,
        "checks": checks,
        "unique": unique,
        "foreign_keys": foreign_keys,
        "indexes": indexes,
    }


def spec_model(spec: Spec) -> dict[str, dict[str, Any]]:
    return {r.table: table_model(r, spec) for r in spec.resources.values()}
