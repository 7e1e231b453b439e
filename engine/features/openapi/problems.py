"""The one error shape (RFC 9457 problem+json) as OpenAPI components, and the responses using it."""

from __future__ import annotations

from typing import Any

from engine.http.responses import PROBLEM_JSON
from engine.kernel.errors import PROBLEM_BASE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem. `type` identifies the kind of error; `detail` says what to fix.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "examples": [PROBLEM_BASE + "not-found"]},
        "title": {"type": "string", "examples": ["Not Found"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "request_id": {"type": "string", "description": "Quote it when reporting a problem (X-Request-ID)."},
        "parameter": {"type": "string", "description": "The query parameter that was refused (400 only)."},
    },
}

VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "description": "Every invalid value, each with a JSON Pointer into the request body.",
                    "items": {
                        "type": "object",
                        "required": ["path", "message"],
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    },
                }
            },
        },
    ]
}

# component name -> (status, description); `Problem` responses share the problem schema.
PROBLEM_RESPONSES: dict[str, tuple[str, str]] = {
    "BadRequest": ("400", "The query string or body is malformed; `detail` (and `parameter`) name the culprit."),
    "Unauthorized": ("401", "No valid credentials: sign in or send a valid token."),
    "Forbidden": ("403", "Your roles do not allow this action."),
    "NotFound": ("404", "No such row, or not one you may see."),
    "Conflict": ("409", "The change conflicts with existing data (a unique value, a reference)."),
    "PayloadTooLarge": ("413", "The body is larger than the server's limit."),
    "UnsupportedMediaType": ("415", "Send the body as application/json."),
    "ValidationFailed": ("422", "The body does not satisfy the resource's schema; `errors` lists every problem."),
    "Error": ("default", "Any other problem (429 rate limited, 500, 503 retry later, 504 ...)."),
}

# What else a write with a JSON body may answer, in status order after 400/401/403/404: the body
# is read with the size limit and media type check, then validated, then written.
BODY_PROBLEMS = ("Conflict", "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailed")


def problem_components() -> tuple[dict[str, Any], dict[str, Any]]:
    """(schemas, responses) to merge into `components`."""
    schemas = {"Problem": PROBLEM_SCHEMA, "ValidationProblem": VALIDATION_PROBLEM_SCHEMA}
    responses = {}
    for name, (_, description) in PROBLEM_RESPONSES.items():
        schema = "ValidationProblem" if name == "ValidationFailed" else "Problem"
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        if name == "Unauthorized":
            response["headers"] = {
                "WWW-Authenticate": {"description": "The authentication scheme to use.", "schema": {"type": "string"}}
            }
        responses[name] = response
    return schemas, responses


def problems(*names: str) -> dict[str, Any]:
    """Response entries for an operation: `problems("NotFound")` -> {"404": {"$ref": ...}}."""
    return {PROBLEM_RESPONSES[name][0]: {"$ref": f"#/components/responses/{name}"} for name in (*names, "Error")}
