"""What `soft_delete:` adds to the OpenAPI document: `?deleted=only` on lists, and the restore route."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.contrib import problem_response
from engine.features.openapi.parameters import id_parameter
from engine.features.openapi.problems import problems
from engine.features.openapi.schemas import component_name, ref
from engine.spec import Spec

JSON = "application/json"
DELETED = {
    "name": "deleted",
    "in": "query",
    "required": False,
    "description": "`only`: list the deleted rows (not yet purged) instead; needs the right to update them.",
    "schema": {"enum": ["only"]},
}


def soft_delete_paths(document: dict[str, Any], spec: Spec) -> None:
    for resource in spec.resources.values():
        if resource.soft_delete is None:
            continue
        listing = document["paths"].get(f"/api/{resource.name}", {}).get("get")
        if listing is not None:
            listing.setdefault("parameters", []).append(DELETED)
        document["paths"][f"/api/{resource.name}/{{id}}/restore"] = {
            "parameters": [id_parameter(resource)],
            "post": {
                "operationId": f"restore_{resource.name}",
                "tags": [resource.name],
                "summary": f"Bring back a deleted row of {resource.name}",
                "description": "The row comes back as it was deleted (an update of `deleted_at` to null). "
                "`If-Match` is honoured.",
                "responses": {
                    "200": {
                        "description": "The row, alive again.",
                        "content": {
                            JSON: {"schema": {"type": "object", "properties": {"data": ref(component_name(resource))}}}
                        },
                    },
                    **problems("Unauthorized", "Forbidden", "NotFound", "Conflict"),
                    "412": problem_response("The row changed since you read it (If-Match)."),
                },
            },
        }
