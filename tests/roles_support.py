"""A generic spec whose users resource keeps each user's roles in a column (`roles_field`), for the
tests of what a user holds now: API keys narrowed by it, Google sign-in started with it."""

from __future__ import annotations

from typing import Any

USER_SCHEMA = {
    "type": "object",
    "required": ["id", "email"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 128},
        "email": {"type": "string", "maxLength": 320},
        "name": {"type": "string", "maxLength": 200},
        "google_id": {"type": ["string", "null"], "maxLength": 255},
        "roles": {"type": "array", "items": {"type": "string", "maxLength": 100}, "default": []},
    },
}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"}},
}
USERS = """
  users:
    schema: schemas/user.json
    owner: id
    protected: [email, google_id, roles]
    roles_field: roles
    permissions: {list: [user], read: [user], create: [admin], update: [user], delete: [admin]}
"""
SPEC = (
    "version: 1\nresources:"
    + USERS
    + """
  reports:
    schema: schemas/item.json
    permissions: {list: [admin], read: [admin], create: [admin], update: [admin], delete: [admin]}
"""
)
FILES: dict[str, Any] = {"schemas/user.json": USER_SCHEMA, "schemas/item.json": ITEM_SCHEMA}


async def set_roles(api: Any, user_id: str, roles: list[str]) -> None:
    """Promote or demote `user_id` as an admin does: a PATCH of the roles column."""
    admin = api.with_token(api.token("test-admin", ["admin"]))
    result = await admin.patch(f"/api/users/{user_id}", json={"roles": roles})
    assert result.status == 200, result.text
