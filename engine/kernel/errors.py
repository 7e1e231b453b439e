"""Typed problems: every layer raises these, the HTTP layer renders them as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://resource-engine.dev/problems/"


class Problem(Exception):
    """An error the client can act on. `extra` members are added to the problem body."""

    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


def _problem(status: int, title: str, slug: str) -> type[Problem]:
    return type(title.replace(" ", "").replace("-", ""), (Problem,), {"status": status, "title": title, "slug": slug})


BadRequest = _problem(400, "Bad Request", "bad-request")


class Unauthorized(Problem):
    """401. Every one carries a `WWW-Authenticate` challenge (RFC 9110 15.5.2), the bearer one unless
    the raiser passes its own (an `error="invalid_token"` one, say)."""

    status = 401
    title = "Unauthorized"
    slug = "unauthorized"
    CHALLENGE = 'Bearer realm="api"'

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail, headers={"WWW-Authenticate": self.CHALLENGE, **(headers or {})}, **extra)


Forbidden = _problem(403, "Forbidden", "forbidden")
NotFound = _problem(404, "Not Found", "not-found")
MethodNotAllowed = _problem(405, "Method Not Allowed", "method-not-allowed")
Conflict = _problem(409, "Conflict", "conflict")
PreconditionFailed = _problem(412, "Precondition Failed", "precondition-failed")
PayloadTooLarge = _problem(413, "Payload Too Large", "payload-too-large")
UnsupportedMediaType = _problem(415, "Unsupported Media Type", "unsupported-media-type")
TooManyRequests = _problem(429, "Too Many Requests", "too-many-requests")
ServiceUnavailable = _problem(503, "Service Unavailable", "service-unavailable")
GatewayTimeout = _problem(504, "Gateway Timeout", "gateway-timeout")


class ValidationFailed(Problem):
    """422 with every violation, each with a JSON Pointer `path` into the request body."""

    status = 422
    title = "Unprocessable Content"
    slug = "validation"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None):
        count = len(errors)
        super().__init__(
            detail or f"the request body has {count} invalid value{'s' if count != 1 else ''}", errors=errors
        )

    @property
    def errors(self) -> list[dict[str, str]]:
        """The violations, each with its `path` and `message`."""
        return self.extra["errors"]


class ConfigurationError(ValueError):
    """A setting that makes the server unsafe or unable to start; the message says what to fix.

    The one error type of the settings registry (engine.kernel.settings): a bad value names the
    variable, the value and what is accepted. A ValueError, as the bad values it reports."""
