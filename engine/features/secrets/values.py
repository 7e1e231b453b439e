"""A secret field's value, plain <-> stored: a string becomes one Fernet token, an object of
strings keeps its entry names and gets one token per value (so which entries are set can be
shown without decrypting anything; engine/sql/outputs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.features.secrets.keys import FieldKeys, is_token
from engine.kernel.errors import ValidationFailed
from engine.spec import Field, Resource


def secret_fields(resource: Resource) -> tuple[Field, ...]:
    return tuple(field for field in resource.fields.values() if field.write_only)


def _each(field: Field, value: Any, convert: Callable[[str], str]) -> Any:
    if value is None:
        return None
    if field.sql_type == "jsonb":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValidationFailed([{"path": f"/{field.name}", "message": "expected an object of strings"}])
        return {name: convert(entry) for name, entry in value.items()}
    if not isinstance(value, str):
        raise ValidationFailed([{"path": f"/{field.name}", "message": "expected a string"}])
    return convert(value)


def encrypt_columns(fields: tuple[Field, ...], columns: dict[str, Any], keys: FieldKeys) -> None:
    """Replace, in place, every secret value about to be written by its ciphertext."""
    for field in fields:
        if field.name in columns:
            columns[field.name] = _each(field, columns[field.name], keys.encrypt)


def decrypt_value(field: Field, stored: Any, keys: FieldKeys) -> Any:
    return _each(field, stored, keys.decrypt)


def rotate_value(field: Field, stored: Any, keys: FieldKeys, encrypt_plain: bool = False) -> Any:
    """`stored` under the newest key; with `encrypt_plain`, a value that is no token at all (written
    before the field was marked writeOnly) is encrypted instead of refused."""

    def convert(value: str) -> str:
        if encrypt_plain and not is_token(value):
            return keys.encrypt(value)
        return keys.rotate(value)

    return _each(field, stored, convert)
