"""JSON-RPC envelopes MCP's SDK would drop, mistake or word badly, and the error answering each.

Shared by `/mcp` (an HTTP 400, engine.features.mcp.endpoint) and `resource-engine mcp` (a line on
stdout, engine.features.mcp.stdio), so a client gets the same answer over either transport. The
SDK takes a request whose `id` MCP does not allow (null, an object, a boolean, a fraction) for a
notification and never answers it, and answers a batch, a wrong `jsonrpc` or a `params` that is not
an object with its data model's validation dump (over stdio: not at all).
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700  # JSON-RPC 2.0: the message is not JSON
INVALID_REQUEST = -32600  # JSON-RPC 2.0: JSON, but not a valid request


def refusal(message: Any) -> dict[str, Any] | None:
    """The JSON-RPC error answering a parsed message whose envelope is not sound (its `id` when it
    has a valid one, else null); None when the envelope is sound."""
    reason = problem(message)
    if reason is None:
        return None
    return error(answer_id(message), INVALID_REQUEST, f"Invalid Request: {reason}")


def error(request_id: str | int | None, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC 2.0 error response, as both transports write it."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def answer_id(message: Any) -> str | int | None:
    """The id an answer to `message` carries: its own when valid, else null (JSON-RPC 2.0)."""
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if valid_id(request_id) else None


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def problem(message: Any) -> str | None:
    """What is wrong with a parsed message's envelope, in a sentence; None when nothing is."""
    if isinstance(message, list):
        return "batches are not supported: send one JSON-RPC message per request"
    if not isinstance(message, dict):
        return "a JSON-RPC message is an object"
    if message.get("jsonrpc") != "2.0":
        return '"jsonrpc" must be "2.0"'
    if "method" not in message:
        if "result" in message or "error" in message:
            return None  # a response to the server: the SDK takes it
        return 'a message needs a "method" (a request or notification), or a "result" or "error" (a response)'
    if not isinstance(message["method"], str):
        return '"method" must be a string'
    if "id" in message and not valid_id(message["id"]):
        return '"id" must be a string or an integer (MCP allows no null id)'
    if "params" in message and not isinstance(message["params"], dict):
        return '"params" must be an object'
    return None
