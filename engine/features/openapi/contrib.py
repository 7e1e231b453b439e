"""What the protection plugins add to the OpenAPI document of the generated resource routes:
conditional-request and idempotency headers, and the answers they bring (304, 412, 429)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.spec import Spec

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_ROUTES = (("", "get", "list"), ("", "post", "create"), ("/{id}", "get", "read"))
_ROUTES += (("/{id}", "patch", "update"), ("/{id}", "delete", "delete"))


def resource_operations(document: dict[str, Any], spec: Spec) -> Iterator[tuple[str, dict[str, Any]]]:
    """(action, operation) for each generated resource route the document describes."""
    paths = document.get("paths", {})
    for name in spec.resources:
        for suffix, method, action in _ROUTES:
            operation = paths.get(f"/api/{name}{suffix}", {}).get(method)
            if operation is not None:
                yield action, operation


def header_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}


def add_parameter(operation: dict[str, Any], parameter: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == parameter["name"] and p.get("in") == "header" for p in parameters):
        parameters.append(parameter)


def add_response_header(operation: dict[str, Any], status: str, name: str, description: str) -> None:
    response = operation.get("responses", {}).get(status)
    if response is not None and "$ref" not in response:
        response.setdefault("headers", {})[name] = {"description": description, "schema": {"type": "string"}}


def problem_response(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": PROBLEM}
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
        }
    return response
