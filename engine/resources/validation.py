"""JSON Schema validation of request bodies, compiled once per resource.

Errors come back as a list of {path, message} with JSON Pointers, every violation at once,
so a client can fix a whole form in one round trip.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.kernel.errors import ValidationFailed
from engine.resources.fast_check import ANNOTATIONS, compile_check
from engine.spec import Resource
from engine.spec.types import BIGINT_MAX, BIGINT_MIN


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _column_safe_schema(resource: Resource) -> dict[str, Any]:
    """The resource schema plus the limits a column adds (bigint range), so they fail as 422s."""
    schema = copy.deepcopy(resource.schema)
    for name, prop in schema.get("properties", {}).items():
        field = resource.fields.get(name)
        if field is not None and field.sql_type == "bigint" and isinstance(prop, dict):
            prop.setdefault("minimum", BIGINT_MIN)
            prop.setdefault("maximum", BIGINT_MAX)
    return schema


# Top-level keywords under which each field is valid or not on its own: a patch of such a schema is
# valid exactly when each of its fields is, whatever the stored row holds (`required` aside).
FIELD_BY_FIELD = ANNOTATIONS | {
    "$defs",
    "definitions",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
}


class _Check:
    """One compiled schema: the fast yes/no check, then jsonschema for every error."""

    def __init__(self, schema: dict[str, Any], secret: frozenset[str]):
        self._validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self._valid = compile_check(schema, Draft202012Validator.FORMAT_CHECKER)  # None: jsonschema only
        self._secret = secret

    def errors(self, document: dict[str, Any], present: Collection[str] = ()) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        for error in self._validator.iter_errors(document):
            found.extend(_describe(error, self._secret, present))
        unique = {(e["path"], e["message"]): e for e in found}  # a rule broken twice is named once
        return sorted(unique.values(), key=lambda e: e["path"])

    def validate(self, document: dict[str, Any], present: Collection[str] = ()) -> None:
        if self._valid is not None and self._valid(document):
            return
        found = self.errors(document, present)
        if found:
            raise ValidationFailed(found)


class BodyValidator:
    def __init__(self, resource: Resource):
        self.resource = resource
        schema = _column_safe_schema(resource)
        secret = frozenset(name for name, field in resource.fields.items() if field.write_only)
        self._whole = _Check(schema, secret)
        # A patch is checked alone (no stored row merged in) when the schema's fields do not depend
        # on each other: against the same schema without `required`, which the stored row satisfies.
        self.patch_alone = set(schema) <= FIELD_BY_FIELD
        self._patch = _Check({k: v for k, v in schema.items() if k != "required"}, secret) if self.patch_alone else None

    def errors(self, document: dict[str, Any], present: Collection[str] = ()) -> list[dict[str, str]]:
        """Every violation; `present` names top-level fields stored already though absent from
        `document` (secrets, which an update cannot read back to merge)."""
        return self._whole.errors(document, present)

    def validate(self, document: dict[str, Any], present: Collection[str] = ()) -> None:
        self._whole.validate(document, present)

    def validate_patch(self, patch: dict[str, Any]) -> None:
        """An update's fields alone (only when `patch_alone`): no stored row needs reading."""
        if self._patch is None:
            raise TypeError(f"{self.resource.name}: its schema's fields depend on each other; validate the merged row")
        self._patch.validate(patch)


def _describe(error: ValidationError, secret: frozenset[str], present: Collection[str]) -> list[dict[str, str]]:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        return [
            {"path": _pointer([*path, name]), "message": f"'{name}' is required"}
            for name in error.validator_value
            if name not in error.instance and (path or name not in present)
        ]
    if error.validator == "dependentRequired" and isinstance(error.instance, dict):
        return [
            {"path": _pointer([*path, name]), "message": f"'{name}' is required when '{field}' is given"}
            for field, needed in error.validator_value.items()
            if field in error.instance
            for name in needed
            if name not in error.instance and (path or name not in present)
        ]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return [
            {"path": _pointer([*path, name]), "message": f"'{name}' is not a field of this resource"}
            for name in error.instance
            if name not in allowed
        ]
    if path and path[0] in secret:  # a secret's value never echoes back: name the rule it broke
        return [{"path": _pointer(path), "message": f"the value does not satisfy '{error.validator}'"}]
    message = _as_json(error.message, error.instance)
    if len(message) > 300:  # jsonschema quotes the whole instance; a huge value must not echo back
        message = message[:300] + "..."
    return [{"path": _pointer(path), "message": message}]


def read_only_errors(resource: Resource, data: dict[str, Any], *, updating: bool) -> list[dict[str, str]]:
    """Fields a client may never send: generated ids, timestamps, readOnly properties, and the
    primary key on update."""
    errors = []
    for name in data:
        field = resource.fields.get(name)
        if field is None:
            continue
        if field.read_only or (updating and name == resource.primary_key):
            why = (
                "is set by the server"
                if not (updating and name == resource.primary_key)
                else "is the primary key and cannot change"
            )
            errors.append({"path": _pointer([name]), "message": f"'{name}' is read-only: it {why}"})
    return errors


def _as_json(message: str, instance: Any) -> str:
    """jsonschema opens most messages with the value's Python repr (`None is not of type 'string'`);
    a JSON client reads null, true, false, objects and arrays as JSON (`null is not of type 'string'`).
    Strings and numbers read the same either way and keep jsonschema's quoting."""
    if instance is None or isinstance(instance, bool | dict | list):
        shown = repr(instance)
        if message.startswith(shown):
            try:
                return orjson.dumps(instance).decode() + message[len(shown) :]
            except TypeError:
                return message
    return message
