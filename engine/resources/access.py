"""The access decision, in two steps: roles per action (the `authorize` hook), then rows (SQL).

Every path that serves or changes rows asks here first: the generated routes, nested routes,
includes, the query cache and the event history and stream. The second step, which rows, is
the `access_predicates` hook, ANDed into the SQL by the resource manager.
"""

from __future__ import annotations

from typing import Any

import pluggy

from engine.kernel.errors import Forbidden, Unauthorized
from engine.kernel.hooks import call_all
from engine.kernel.identity import Identity
from engine.spec import Resource

BEARER_CHALLENGE = {"WWW-Authenticate": Unauthorized.CHALLENGE}


async def may(
    pm: pluggy.PluginManager, request: Any, resource: Resource, action: str, identity: Identity | None
) -> bool:
    """Whether the caller's roles allow `action` on `resource` (no plugin answering False), within the
    scopes of its credential (an API key): scopes are checked here, so no plugin can widen them."""
    if identity is not None and not identity.permits(resource.name, action):
        return False
    answers = await call_all(pm.hook.authorize, request=request, resource=resource, action=action, identity=identity)
    return False not in answers


async def held_roles(pm: pluggy.PluginManager, app: Any, user_id: str) -> frozenset[str] | None:
    """The roles `user_id` holds now: the union of the `user_roles` answers, None when none answered."""
    answers = await call_all(pm.hook.user_roles, app=app, user_id=user_id)
    return frozenset().union(*answers) if answers else None


async def require(
    pm: pluggy.PluginManager, request: Any, resource: Resource, action: str, identity: Identity | None
) -> None:
    """Refuse with 401 (anonymous) or 403 when the caller's roles do not allow `action`."""
    if not await may(pm, request, resource, action, identity):
        if identity is None:
            raise Unauthorized(f"sign in to {action} {resource.name}", headers=BEARER_CHALLENGE)
        if not identity.permits(resource.name, action):
            raise Forbidden(f"the scopes of this credential do not allow {action} on {resource.name}")
        raise Forbidden(f"your roles do not allow {action} on {resource.name}")
