"""Which resource and action a request is for, when it is one of the generated resource routes."""

from __future__ import annotations

from aiohttp import web

from engine.http.handlers import ResourceHandlers
from engine.spec import ACTIONS, Resource

# The generated handlers beyond the five (engine/http/bulk.py) and the action whose rules they follow.
WRITE_ACTIONS = {"update_many": "update", "delete_many": "delete", "put": "update"}


def resource_action(request: web.Request) -> tuple[Resource, str] | None:
    """(resource, action) for the generated handlers (their method names are the actions; a bulk
    update, bulk delete or PUT counts as the update, delete or update it is made of)."""
    return _action_of(request.match_info.handler)


def route_action(route: web.AbstractRoute) -> tuple[Resource, str] | None:
    """`resource_action` of the requests `route` serves."""
    return _action_of(route.handler)


def _action_of(handler: object) -> tuple[Resource, str] | None:
    owner = getattr(handler, "__self__", None)
    name = getattr(handler, "__name__", "")
    name = WRITE_ACTIONS.get(name, name)
    if isinstance(owner, ResourceHandlers) and name in ACTIONS:
        return owner.resource, name
    return None
