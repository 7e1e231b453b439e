"""Where GET /api/me appears in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import json_body
from engine.features.openapi.problems import problems


def me_paths(document: dict[str, Any]) -> None:
    schema = {"$ref": "#/components/schemas/Users"} if "Users" in document["components"]["schemas"] else {}
    document["paths"]["/api/me"] = {
        "get": {
            "operationId": "me",
            "tags": ["users"],
            "summary": "The signed-in caller's own users row",
            "responses": {
                "200": json_body("Your row.", {"type": "object", "properties": {"data": schema}}),
                **problems("Unauthorized", "NotFound"),
            },
        }
    }
