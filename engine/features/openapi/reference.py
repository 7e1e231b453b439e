"""A human-readable reference of the API (the /docs page's content), derived from the spec and the
OpenAPI document: fields with their types and constraints, routes, example requests."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.features.access.plugin import allowed_roles
from engine.features.openapi.document import operations
from engine.features.openapi.examples import request_example
from engine.http.query import OPERATORS_BY_TYPE
from engine.spec import Resource, Spec
from engine.spec.model import ACTIONS
from engine.spec.types import json_types


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    constraints: list[str]
    filters: str


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    curl: str = ""
    body: str = ""  # the example body for the try-it form (JSON text), if any


@dataclass
class ResourceDoc:
    name: str
    description: str
    fields: list[FieldDoc]
    permissions: list[tuple[str, str]]
    routes: list[RouteDoc] = field(default_factory=list)


def type_label(prop: dict[str, Any], sql_type: str) -> str:
    types, nullable = json_types(prop)
    label = " | ".join(types) if types else sql_type
    if prop.get("format"):
        label += f" ({prop['format']})"
    return label + (" | null" if nullable else "")


def constraints(resource: Resource, name: str, prop: dict[str, Any]) -> list[str]:
    field_ = resource.fields[name]
    notes = []
    if name in resource.schema.get("required", ()) and not field_.read_only and name != resource.owner:
        notes.append("required")
    if field_.read_only or field_.engine_managed:
        notes.append("read-only")
    if name == resource.owner:
        notes.append("owner: set from the token")
    if name in resource.protected:
        notes.append("admins only")
    if name == resource.primary_key:
        notes.append("primary key")
    if field_.enum:
        notes.append("one of: " + ", ".join(str(v) for v in field_.enum))
    for key, text in (
        ("minLength", "min length {}"),
        ("maxLength", "max length {}"),
        ("minimum", ">= {}"),
        ("maximum", "<= {}"),
        ("exclusiveMinimum", "> {}"),
        ("exclusiveMaximum", "< {}"),
        ("minItems", "at least {} items"),
        ("maxItems", "at most {} items"),
        ("pattern", "matches {}"),
    ):
        if key in prop:
            notes.append(text.format(prop[key]))
    if "default" in prop:
        notes.append("default " + orjson.dumps(prop["default"]).decode())
    if name in resource.references:
        reference = resource.references[name]
        readable = ", a row you may read" if reference.check == "read" else ""
        notes.append(f"references {reference.resource} (on delete {reference.on_delete}{readable})")
    for columns in resource.unique:
        if columns == (name,):
            notes.append("unique")
    return notes


def _curl(method: str, url: str, *, token: bool, body: dict[str, Any] | None = None) -> str:
    parts = ["curl", "-i"]
    if method != "GET":
        parts += ["-X", method]
    command = " ".join(shlex.quote(p) for p in parts)
    if token:
        command += ' -H "Authorization: Bearer $TOKEN"'
    if body is not None:
        command += " -H 'Content-Type: application/json' -d " + shlex.quote(orjson.dumps(body).decode())
    return f"{command} {shlex.quote(url)}"


def _resource_routes(resource: Resource, document: dict[str, Any], origin: str) -> list[RouteDoc]:
    routes = []
    for path, method, operation in operations(document):
        if resource.name not in operation.get("tags", ()):
            continue
        example_path = re.sub(r"\{([a-z_]+)\}", lambda m: m.group(1).upper(), path)
        anonymous = {} in operation.get("security", [{"x": []}])
        sent = request_example(operation)
        routes.append(
            RouteDoc(
                method=method.upper(),
                path=path,
                summary=operation.get("summary", ""),
                curl=_curl(method.upper(), origin + example_path, token=not anonymous, body=sent),
                body=orjson.dumps(sent, option=orjson.OPT_INDENT_2).decode() if sent is not None else "",
            )
        )
    return routes


def resource_docs(spec: Spec, document: dict[str, Any], origin: str) -> list[ResourceDoc]:
    docs = []
    for resource in spec.resources.values():
        properties = resource.schema.get("properties", {})
        fields = []
        for name, field_ in resource.fields.items():
            prop = properties.get(name, {"type": "string", "format": "date-time"})
            fields.append(
                FieldDoc(
                    name=name,
                    type=type_label(prop, field_.sql_type),
                    constraints=constraints(resource, name, prop),
                    filters=", ".join(OPERATORS_BY_TYPE[field_.sql_type]),
                )
            )
        permissions = [(action, ", ".join(allowed_roles(resource, action))) for action in ACTIONS]
        docs.append(
            ResourceDoc(
                name=resource.name,
                description=resource.schema.get("description", ""),
                fields=fields,
                permissions=permissions,
                routes=_resource_routes(resource, document, origin),
            )
        )
    return docs


def other_routes(spec: Spec, document: dict[str, Any]) -> list[RouteDoc]:
    """Routes plugins serve (auth, health, events ...), as their `register_openapi` hooks describe them."""
    return [
        RouteDoc(method.upper(), path, operation.get("summary", ""))
        for path, method, operation in operations(document)
        if not set(operation.get("tags", ())) & set(spec.resources)
    ]
