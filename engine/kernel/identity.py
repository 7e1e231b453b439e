"""Who is calling: produced by the `authenticate` hook, read by access control and the resource manager."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    user_id: str
    roles: frozenset[str] = frozenset({"user"})
    via: str = "token"  # token | session | api_key ... (how the caller proved it)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

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
