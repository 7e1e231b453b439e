"""Where a `writeOnly` property (a secret field, engine/features/secrets) can be honoured.

A secret is stored encrypted and never read back, so the database can neither compare nor index
its value: every use that needs the plain value (a key, an index, a reference, a filter in an
access rule) is refused here, with file:line:col, instead of silently comparing ciphertext.
Only strings, and objects whose values are strings, can be encrypted value by value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.spec.model import Field

Report = Callable[[tuple, str], None]  # (path, message)


def write_only_names(fields: dict[str, Field]) -> list[str]:
    return [name for name, field in fields.items() if field.write_only]


def check_property(name: str, prop: dict[str, Any], field: Field, report: Report) -> None:
    """The property itself: an encryptable type, no plain default, not readOnly at once."""
    where = ("properties", name, "writeOnly")
    problem = _type_problem(prop, field)
    if problem:
        report(where, f"writeOnly property {name!r} {problem}")
    if prop.get("readOnly"):
        report(where, f"property {name!r} cannot be readOnly and writeOnly at once")
    if "default" in prop and prop["default"] not in ({}, None):
        report(where, f"writeOnly property {name!r} cannot have a default: it would be stored unencrypted")


def _type_problem(prop: dict[str, Any], field: Field) -> str | None:
    if field.enum is not None or "const" in prop:
        return "cannot be an enum or const: its few possible values would give the secret away"
    if field.sql_type == "text":
        return None
    if field.sql_type != "jsonb" or prop.get("type") not in ("object", ["object", "null"], ["null", "object"]):
        return "must be a string, or an object whose values are strings (only strings are encrypted)"
    values = [s for s in (prop.get("properties") or {}).values()]
    extra = prop.get("additionalProperties", True)
    if extra is not False:
        values.append(extra)
    if not values or not all(isinstance(s, dict) and s.get("type") == "string" for s in values):
        return (
            'must say its values are strings: add "additionalProperties": {"type": "string"} '
            "(and give every entry of 'properties' type string)"
        )
    return None


def check_uses(raw: dict[str, Any], fields: dict[str, Field], primary_key: str, report: Report) -> None:
    """Keys of a resource's YAML that would need the plain value of a secret field."""
    secret = set(write_only_names(fields))
    if not secret:
        return
    if primary_key in secret:
        report(("primary_key",), f"the primary key {primary_key!r} cannot be writeOnly")
    if raw.get("owner") in secret:
        report(("owner",), f"the owner field {raw['owner']!r} cannot be writeOnly: every query compares it")
    for key, label in (("unique", "a unique key"), ("indexes", "an index")):
        for i, cols in enumerate(raw.get(key) or ()):
            for j, col in enumerate(cols):
                name = str(col).lstrip("-")
                if name in secret:
                    report((key, i, j), f"writeOnly field {name!r} cannot be in {label}: its value is encrypted")
    for col in raw.get("references") or {}:
        if col in secret:
            report(("references", col), f"writeOnly field {col!r} cannot be a reference: its value is encrypted")
