"""Where `/mcp` appears in the OpenAPI document (its messages are MCP's, described in docs/mcp.md)."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.auth import json_body
from engine.features.openapi.problems import problems

JSON_RPC = {"type": "object", "description": "A JSON-RPC 2.0 message of the Model Context Protocol."}


def mcp_paths(document: dict[str, Any]) -> None:
    document["paths"]["/mcp"] = {
        "post": {
            "operationId": "mcp",
            "tags": ["mcp"],
            "summary": "Model Context Protocol (Streamable HTTP, stateless): a tool per resource and action",
            "description": (
                "One JSON-RPC message per POST (initialize, tools/list, tools/call ...), one JSON reply. "
                "Tool calls run as the caller, through the same routes as the REST API: see docs/mcp.md."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": JSON_RPC}}},
            "responses": {
                "200": json_body("The JSON-RPC reply.", JSON_RPC),
                "202": {"description": "A notification or a response was accepted."},
                **problems("Unauthorized"),
            },
        }
    }
