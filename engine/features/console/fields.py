"""What the console shows for each field of a resource, derived once from the spec and its JSON Schema.

Columns of the table, operators of the filter builder, and the controls of the create and edit
forms all come from here, so a resource added to resources.yaml appears with no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.http.query import OPERATORS_BY_TYPE
from engine.spec import Resource, Spec

LONG_TEXT = 500  # a string allowed to be longer than this is edited in a text area
DEFAULT_COLUMNS = 6  # visible before the column chooser is used: 100 rows fit 1280 px without scrolling
OPERATOR_LABELS = {
    "eq": "equals",
    "ne": "is not",
    "lt": "less than",
    "lte": "at most",
    "gt": "greater than",
    "gte": "at least",
    "in": "one of (comma-separated)",
    "is": "is (null, not_null, true, false)",
    "like": "matches (* wildcard)",
    "ilike": "matches, any case (* wildcard)",
    "contains": "contains (JSON)",
}


@dataclass(frozen=True)
class FieldView:
    name: str
    label: str
    description: str
    control: str  # text | textarea | number | integer | select | checkbox | datetime | json
    options: tuple[Any, ...] = ()
    required: bool = False
    read_only: bool = False  # shown on the edit page, never sent
    write_only: bool = False  # sent when filled in, never shown
    operators: tuple[str, ...] = ()  # filterable with these (none: not filterable)
    sortable: bool = False
    reference: str | None = None  # the resource this field's value points at
    admin_only: bool = False  # the owner column, or `protected:`: only admins send it
    owner: bool = False
    placeholder: str = ""
    moves: dict[str, list[str]] | None = None  # `transitions:`: from each value, the values it may move to


@dataclass(frozen=True)
class ResourceView:
    name: str
    title: str
    description: str
    primary_key: str
    fields: tuple[FieldView, ...]
    relations: tuple[tuple[str, str, str], ...]  # (relation name, target resource, the join row's column for it)
    referenced_by: tuple[tuple[str, str], ...]  # (resource, its column referencing this one)
    has_events: bool

    @property
    def readable(self) -> tuple[FieldView, ...]:
        return tuple(f for f in self.fields if not f.write_only)

    @property
    def filterable(self) -> tuple[FieldView, ...]:
        return tuple(f for f in self.fields if f.operators)

    @property
    def default_columns(self) -> tuple[str, ...]:
        simple = [f.name for f in self.readable if f.control not in ("json", "textarea")]
        return tuple(simple[:DEFAULT_COLUMNS])

    def editable(self, creating: bool) -> tuple[FieldView, ...]:
        """The form's fields: on create, nothing read-only; on edit, read-only ones shown disabled."""
        return tuple(f for f in self.fields if not (creating and f.read_only))


def _control(schema: dict[str, Any], sql_type: str, enum: tuple[Any, ...] | None) -> str:
    if enum:
        return "select"
    if sql_type == "boolean":
        return "checkbox"
    if sql_type == "bigint":
        return "integer"
    if sql_type == "double precision":
        return "number"
    if sql_type == "timestamptz":
        return "datetime"
    if sql_type == "jsonb":
        return "json"
    if schema.get("maxLength", LONG_TEXT + 1) > LONG_TEXT and schema.get("format") is None:
        return "textarea"
    return "text"


def _placeholder(control: str, schema: dict[str, Any]) -> str:
    if control == "json":
        return "[]" if schema.get("type") == "array" else "{}"
    if schema.get("format") == "uuid":
        return "a UUID"
    return ""


def _moves(resource: Resource, name: str) -> dict[str, list[str]] | None:
    moves = resource.transitions.get(name)
    return None if moves is None else {state: list(targets) for state, targets in moves.items()}


def field_views(resource: Resource) -> tuple[FieldView, ...]:
    properties = resource.schema.get("properties", {})
    required = set(resource.schema.get("required", ()))
    views = []
    for name, field in resource.fields.items():
        schema = properties.get(name, {})
        control = _control(schema, field.sql_type, field.enum)
        reference = resource.references.get(name)
        views.append(
            FieldView(
                name=name,
                label=str(schema.get("title") or name.replace("_", " ").capitalize()),
                description=str(schema.get("description") or ""),
                control=control,
                options=tuple(field.enum or ()),
                required=name in required and not field.has_default,
                read_only=field.read_only or field.generated or field.engine_managed,
                write_only=field.write_only,
                operators=() if field.write_only else OPERATORS_BY_TYPE.get(field.sql_type, ()),
                sortable=not field.write_only and field.sql_type != "jsonb",
                reference=reference.resource if reference else None,
                admin_only=name == resource.owner or name in resource.protected,
                owner=name == resource.owner,
                placeholder=_placeholder(control, schema),
                moves=_moves(resource, name),
            )
        )
    return tuple(views)


def resource_view(spec: Spec, resource: Resource) -> ResourceView:
    referenced_by = tuple(
        (other.name, ref.column)
        for other in spec.resources.values()
        for ref in other.references.values()
        if ref.resource == resource.name and other.name != resource.name
    )
    return ResourceView(
        name=resource.name,
        title=str(resource.schema.get("title") or resource.name.replace("_", " ").capitalize()),
        description=str(resource.schema.get("description") or ""),
        primary_key=resource.primary_key,
        fields=field_views(resource),
        relations=tuple((name, r.target, r.other) for name, r in resource.relations.items()),
        referenced_by=referenced_by,
        has_events=bool(resource.events.get("emit")) if resource.events else False,
    )


def views_of(spec: Spec) -> dict[str, ResourceView]:
    """Every resource's view, built once when the app is configured."""
    return {name: resource_view(spec, resource) for name, resource in spec.resources.items()}
