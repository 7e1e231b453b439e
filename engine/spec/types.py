"""JSON Schema property -> column: the single place where a schema type becomes a SQL type."""

from __future__ import annotations

from typing import Any

from engine.spec.model import Field

SCALAR_TYPES = {
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "object": "jsonb",
    "array": "jsonb",
}
STRING_FORMATS = {"uuid": "uuid", "date-time": "timestamptz"}

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class TypeProblem(ValueError):
    """A property whose type cannot become one column; the message is for the YAML author."""


def json_types(prop: dict[str, Any]) -> tuple[list[str], bool]:
    """The non-null JSON types a property allows, and whether null is allowed."""
    declared = prop.get("type")
    if declared is None and "enum" in prop:
        declared = sorted({_enum_type(v) for v in prop["enum"]})
    if declared is None and "const" in prop:
        declared = _enum_type(prop["const"])
    types = [declared] if isinstance(declared, str) else list(declared or [])
    nullable = "null" in types or (None in prop.get("enum", ()))
    return [t for t in types if t != "null"], nullable


def _enum_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def sql_type(prop: dict[str, Any]) -> str:
    types, _ = json_types(prop)
    if len(types) != 1:
        raise TypeProblem(
            "needs exactly one non-null JSON type to become a column"
            + (f" (found {', '.join(types)})" if types else " (no 'type' given)")
        )
    (kind,) = types
    if kind == "string":
        return STRING_FORMATS.get(prop.get("format", ""), "text")
    if kind not in SCALAR_TYPES:
        raise TypeProblem(f"has unknown JSON type {kind!r}")
    return SCALAR_TYPES[kind]


def derive_field(name: str, prop: dict[str, Any], *, required: bool, primary_key: bool, owner: bool) -> Field:
    column_type = sql_type(prop)
    _, null_allowed = json_types(prop)
    has_default = "default" in prop
    generated = primary_key and column_type == "uuid" and not has_default
    enum = prop.get("enum")
    return Field(
        name=name,
        sql_type=column_type,
        nullable=null_allowed or not (required or has_default or primary_key or owner),
        enum=tuple(v for v in enum if v is not None) if enum else None,
        default=prop.get("default"),
        has_default=has_default,
        generated=generated,
        read_only=bool(prop.get("readOnly")) or generated,
        write_only=prop.get("writeOnly") is True,
    )


def engine_fields() -> dict[str, Field]:
    """created_at / updated_at: present on every table, written only by the engine."""
    return {
        name: Field(name, "timestamptz", nullable=False, generated=True, read_only=True, engine_managed=True)
        for name in ("created_at", "updated_at")
    }


def deleted_at() -> Field:
    """`soft_delete`'s column: when the row was deleted (null while it lives), written only by the engine."""
    return Field("deleted_at", "timestamptz", nullable=True, read_only=True, engine_managed=True)
