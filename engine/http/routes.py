"""Which resource and action a request is for, when it is one of the generated resource routes."""

from __future__ import annotations

from aiohttp import web

from engine.http.handlers import ResourceHandlers
from engine.spec import ACTIONS, Resource


def resource_action(request: web.Request) -> tuple[Resource, str] | None:
    """(resource, action) for the five generated handlers (their method names are the actions)."""
    handler = request.match_info.handler
    owner = getattr(handler, "__self__", None)
    name = getattr(handler, "__name__", "")
    if isinstance(owner, ResourceHandlers) and name in ACTIONS:
        return owner.resource, name
    return None
