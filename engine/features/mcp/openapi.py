"""Where `/mcp` appears in the OpenAPI document (its messages are MCP's, described in docs/mcp.md)."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import json_body
from engine.features.openapi.problems import problems

JSON_RPC = {"type": "object", "description": "A JSON-RPC 2.0 message of the Model Context Protocol."}
# The SDK's transport refuses a message it cannot take with a JSON-RPC error, at these statuses; its bare
# refusals (no JSON-RPC body) and the engine's (415) are problems.
REFUSALS = {
    "400": "A malformed or invalid message.",
    "404": "An unknown method (stateless requests).",
    "406": "The Accept header does not admit application/json.",
    "409": "Conflicting request headers.",
}


def mcp_paths(document: dict[str, Any]) -> None:
    document["paths"]["/mcp"] = {
        "post": {
            "operationId": "mcp",
            "tags": ["mcp"],
            "summary": "Model Context Protocol (Streamable HTTP, stateless): a tool per route of the resources, and me",
            "description": (
                "One JSON-RPC message per POST (initialize, tools/list, tools/call ...), one JSON reply. "
                "Tool calls run as the caller, through the same routes as the REST API: see docs/mcp.md."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": JSON_RPC}}},
            "responses": {
                "200": json_body("The JSON-RPC reply.", JSON_RPC),
                "202": {"description": "A notification or a response was accepted."},
                **{
                    status: json_body(f"{text} The body is a JSON-RPC error.", JSON_RPC)
                    for status, text in REFUSALS.items()
                },
                **problems("Unauthorized", "UnsupportedMediaType"),
            },
        }
    }
