"""Example values for request bodies: put into the OpenAPI document (`example` of a request
body), and from there into the /docs page's curl commands and try-it form."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.schemas import create_schema
from engine.spec import Resource
from engine.spec.types import json_types

_EXAMPLE_BY_FORMAT = {
    "uuid": "00000000-0000-0000-0000-000000000000",
    "date-time": "2026-01-31T12:00:00Z",
    "email": "ada@example.com",
}


def example_value(prop: dict[str, Any]) -> Any:
    if "default" in prop:
        return prop["default"]
    if prop.get("enum"):
        return prop["enum"][0]
    types, _ = json_types(prop)
    kind = types[0] if types else "string"
    if kind == "string":
        if prop.get("format") in _EXAMPLE_BY_FORMAT:
            return _EXAMPLE_BY_FORMAT[prop["format"]]
        text = "example".ljust(prop.get("minLength", 0), "x")
        return text[: prop["maxLength"]] if "maxLength" in prop else text
    if kind in ("integer", "number"):
        return prop.get("minimum", min(1, prop.get("maximum", 1)))
    if kind == "boolean":
        return True
    return {} if kind == "object" else []


def example_body(resource: Resource, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A create body with every required field (and nothing the server would refuse)."""
    schema = create_schema(resource)
    required = [name for name in schema.get("required", []) if name not in leave_out]
    return {name: example_value(schema["properties"][name]) for name in required}


def update_example(resource: Resource) -> dict[str, Any]:
    """A PATCH body: the create example, or else one writable field."""
    body = example_body(resource)
    if body:
        return body
    properties = create_schema(resource).get("properties", {})
    return {name: example_value(prop) for name, prop in list(properties.items())[:1]}


def request_example(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The example body an operation's document gives, if it takes a JSON body."""
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json", {})
    return media.get("example") if "example" in media else None
