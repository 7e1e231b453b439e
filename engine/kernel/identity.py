"""Who is calling: produced by the `authenticate` hook, read by access control and the resource manager."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)  # slots: a process keeps one per verified token (jwt_auth's cache), thousands
class Identity:
    user_id: str
    roles: frozenset[str] = frozenset({"user"})
    via: str = "token"  # token | session | api_key ... (how the caller proved it)
    # A credential that narrows what its user may do (an API key) names the resources and actions
    # it covers, "<resource>:read" or "<resource>:write" ("*" for every resource); None: no narrowing.
    scopes: frozenset[str] | None = None
    credential_id: str | None = None  # the credential's own id when it has its own limits (an API key)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def permits(self, resource: str, action: str) -> bool:
        """Whether the scopes cover `action` (list and read need `:read`, every other action `:write`)
        on `resource`. Roles are decided elsewhere: scopes only ever narrow them."""
        if self.scopes is None:
            return True
        kind = "read" if action in READ_ACTIONS else "write"
        return f"{resource}:{kind}" in self.scopes or f"*:{kind}" in self.scopes

    def storable(self) -> bool:
        """Whether the user id and roles can be bound as PostgreSQL text (see `storable_text`)."""
        return storable_text(self.user_id) and all(storable_text(role) for role in self.roles)


def storable_text(text: str) -> bool:
    """PostgreSQL text holds no NUL character, and the driver sends UTF-8, which has no lone
    surrogates: a claim holding either would fail in the database, so it is refused up front."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


ANONYMOUS_ROLE = "anonymous"
READ_ACTIONS = frozenset({"list", "read"})
