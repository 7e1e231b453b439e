"""Component schemas from the resources' JSON Schemas: the row as returned, and the create and
update bodies as accepted.

OpenAPI 3.1 speaks JSON Schema 2020-12, so a resource schema is reused nearly as written: only
`$schema`/`$id` go (a component has no identity of its own) and local `$ref`s are re-rooted
under the component, so a schema with `$defs` still resolves inside the document.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.spec import Resource
from engine.spec.access import describe
from engine.spec.model import ENGINE_FIELDS

TIMESTAMP = {"type": "string", "format": "date-time", "readOnly": True}
ENGINE_FIELD_DESCRIPTIONS = {
    "created_at": "When the row was created; set by the engine.",
    "updated_at": "When the row was last changed; set by the engine.",
    "deleted_at": "When the row was deleted (soft_delete); null while it lives. Set by the engine.",
}


SECRET_STRING = 'A secret (writeOnly): stored encrypted; reads say "set" when it has a value, never the value.'
SECRET_OBJECT = 'Secrets (writeOnly): stored encrypted; reads name each entry that is set ("set"), never its value.'


def component_name(resource: Resource) -> str:
    """`team_members` -> `TeamMembers`: stable, and valid as an OpenAPI component key."""
    return "".join(part.capitalize() for part in resource.name.split("_") if part)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _rerooted(node: Any, root: str) -> Any:
    """A copy of `node` whose local `$ref`s (`#/...`) point inside the component `root`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = f"#/components/schemas/{root}{value[1:]}"
            else:
                out[key] = _rerooted(value, root)
        return out
    if isinstance(node, list):
        return [_rerooted(item, root) for item in node]
    return node


def _base(resource: Resource) -> dict[str, Any]:
    schema = copy.deepcopy(resource.schema)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return _rerooted(schema, component_name(resource))


def _or_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A stored column that may be NULL (an optional field never sent) comes back as null."""
    declared = prop.get("type")
    if isinstance(declared, str):
        return {**prop, "type": [declared, "null"]} if declared != "null" else prop
    if isinstance(declared, list):
        return prop if "null" in declared else {**prop, "type": [*declared, "null"]}
    if "enum" in prop:
        return prop if None in prop["enum"] else {**prop, "enum": [*prop["enum"], None]}
    return {"anyOf": [prop, {"type": "null"}]}


def _describe(prop: dict[str, Any], note: str) -> dict[str, Any]:
    existing = prop.get("description")
    return {**prop, "description": f"{existing} {note}" if existing else note}


def row_schema(resource: Resource) -> dict[str, Any]:
    """The row as the API returns it: every schema property plus the engine's timestamps.

    Nothing is `required`, because `fields=` returns a subset; extra members may appear
    when `include=` embeds related rows.
    """
    schema = _base(resource)
    schema.pop("required", None)
    schema.pop("additionalProperties", None)
    properties = schema.setdefault("properties", {})
    for name, field in resource.fields.items():
        if field.engine_managed:
            properties[name] = {**TIMESTAMP, "description": ENGINE_FIELD_DESCRIPTIONS.get(name, "")}
            if field.nullable:  # deleted_at (soft_delete): null while the row lives
                properties[name] = _or_null(properties[name])
        elif field.read_only:
            properties[name] = {**properties[name], "readOnly": True}
        elif field.write_only:
            properties[name] = _secret_as_read(field.sql_type, field.nullable)
        if field.nullable and not field.engine_managed:
            properties[name] = _or_null(properties[name])
        if name == resource.owner:
            properties[name] = _describe(properties[name], "The owner: set from the caller's token on create.")
    _field_rules(resource, properties, "read", "Readable by")
    return schema


def _secret_as_read(sql_type: str, nullable: bool) -> dict[str, Any]:
    """A writeOnly field reads back as what is set, never its value (engine/sql/outputs.py)."""
    marker = {"type": "string", "enum": ["set"]}
    if sql_type == "jsonb":
        shown = {"type": "object", "additionalProperties": marker, "description": SECRET_OBJECT}
    else:
        shown = {**marker, "description": SECRET_STRING}
        if nullable:  # null when unset; said here, as _or_null cannot widen an enum beside a type
            shown.update(type=["string", "null"], enum=["set", None])
    return {**shown, "readOnly": True}


def _field_rules(resource: Resource, properties: dict[str, Any], mode: str, lead: str) -> None:
    """Say who may read (or write) each field that has its own rule (`access.fields`); admins always may."""
    for name, modes in resource.field_access.items():
        if name in properties and mode in modes:
            who = describe(modes[mode])
            note = f"{lead}: {who}; admins always." + (
                " Absent from the row for other callers." if mode == "read" else ""
            )
            properties[name] = {**_describe(properties[name], note), f"x-{mode}-access": who}


def _writable(resource: Resource) -> dict[str, Any]:
    schema = _base(resource)
    properties = schema.get("properties", {})
    for name, field in resource.fields.items():
        if field.read_only or name in ENGINE_FIELDS:
            properties.pop(name, None)
    if resource.owner in properties:
        properties[resource.owner] = _describe(
            properties[resource.owner], "Set from the caller's token; only admins may send another value."
        )
    for name in resource.protected:
        if name in properties:
            properties[name] = _describe(properties[name], "Only admins may set this field.")
    _field_rules(resource, properties, "write", "Writable by")
    schema["additionalProperties"] = False
    return schema


def create_schema(resource: Resource) -> dict[str, Any]:
    """A create body: writable fields; the owner is never required (the token supplies it)."""
    schema = _writable(resource)
    required = [
        name for name in resource.schema.get("required", ()) if name in schema["properties"] and name != resource.owner
    ]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return schema


def update_schema(resource: Resource) -> dict[str, Any]:
    """A PATCH body: any subset of the writable fields."""
    schema = _writable(resource)
    schema.pop("required", None)
    schema.pop("default", None)
    for name, prop in schema.get("properties", {}).items():
        schema["properties"][name] = {k: v for k, v in prop.items() if k != "default"}
    return schema


def resource_components(resource: Resource) -> dict[str, dict[str, Any]]:
    name = component_name(resource)
    return {
        name: row_schema(resource),
        f"{name}Create": create_schema(resource),
        f"{name}Update": update_schema(resource),
    }
