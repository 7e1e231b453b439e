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


ANONYMOUS_ROLE = "anonymous"
