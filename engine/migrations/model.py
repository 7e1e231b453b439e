"""The database shape a spec asks for, as plain JSON-able dicts ("table models").

Migration files carry the model they produce as a snapshot, so `migrate make` can diff the
spec against the migrations without a database.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine.spec import History, Resource, Spec
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
        return None if field.nullable else {"kind": "now"}  # deleted_at (soft_delete) starts null
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
    partial_unique = {}
    if resource.soft_delete is not None:  # unique among the rows not deleted: a partial unique index
        partial_unique = {
            name: {"columns": cols, "where_null": resource.soft_delete.column} for name, cols in unique.items()
        }
        unique = {}
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
    model = {
        "table": table,
        "columns": columns,
        "primary_key": resource.primary_key,
        "checks": checks,
        "unique": unique,
        "foreign_keys": foreign_keys,
        "indexes": indexes,
    }
    if partial_unique:  # only then, so the snapshots of specs without soft_delete do not change
        model["partial_unique"] = partial_unique
    return model


def history_model(resource: Resource) -> dict[str, Any]:
    """The versions of a resource's rows (features/history): one row per create, update and delete.

    No foreign key to the resource: versions outlive a deleted row. The primary key (record_id,
    version) serves the newest-first reads and the version numbering; `at` is indexed only when
    versions expire by age.
    """
    table = History.table_of(resource.table)
    columns = {
        "record_id": {"type": resource.pk.sql_type, "nullable": False, "default": None},
        "version": {"type": "bigint", "nullable": False, "default": None},
        "action": {"type": "text", "nullable": False, "default": None},
        "at": {"type": "timestamptz", "nullable": False, "default": {"kind": "now"}},
        "actor": {"type": "text", "nullable": True, "default": None},
        "data": {"type": "jsonb", "nullable": True, "default": None},
    }
    indexes = {}
    if resource.history is not None and resource.history.max_age is not None:
        indexes[constraint_name(table, ["at"], "idx")] = [["at", False]]
    return {
        "table": table,
        "columns": columns,
        "primary_key": ["record_id", "version"],
        "checks": {},
        "unique": {},
        "foreign_keys": {},
        "indexes": indexes,
    }


def spec_model(spec: Spec) -> dict[str, dict[str, Any]]:
    model = {r.table: table_model(r, spec) for r in spec.resources.values()}
    for resource in spec.resources.values():
        if resource.history is not None:
            model[History.table_of(resource.table)] = history_model(resource)
    return model
