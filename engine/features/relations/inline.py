"""Nested create: a POST of a parent may carry its many-to-many links inline, e.g.

    POST /api/teams {"name": "Support", "members": [{"user_id": "bob", "role": "admin"}],
                     "agents": [{"agent_id": "2b9c..."}]}

The generated create (engine.http.bulk) takes the relation keys out of the body and leaves them in
the write's `WriteContext.notes` under NESTED; this plugin's `after_write` of that create links
each item, in the same transaction, exactly as `POST /api/teams/{id}/<relation>` would (roles, the
parent's `attach` rule, the far side's `attach` right, invitations, the join resource's hooks and
events). A refused item rolls the parent back too; its errors' paths point into the body:
`/members/1/user_id`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.features.relations.invitations import Invitations
from engine.features.relations.nested import NestedHandlers
from engine.http.bulk import NESTED
from engine.http.handlers import authorize, write_context
from engine.http.keys import IDENTITY, SPEC
from engine.kernel.errors import Problem, ValidationFailed
from engine.resources.bulk import restated
from engine.resources.context import WriteContext
from engine.spec import Resource
from engine.spec.model import PENDING


def prefixed(exc: Problem, pointer: str) -> Problem:
    """The problem of a nested item, its error paths (or its detail) pointing into the parent's body."""
    if isinstance(exc, ValidationFailed):
        errors = [{**e, "path": f"{pointer}{e.get('path', '')}"} for e in exc.extra.get("errors", [])]
        return ValidationFailed(errors or [{"path": pointer, "message": exc.detail}])
    return restated(exc, f"{pointer}: {exc.detail}", path=pointer)


async def attach_inline(context: WriteContext, resource: Resource, record: dict[str, Any]) -> None:
    """Link every item the create carried (`context.notes[NESTED]`: the request and {relation: items})."""
    request, relations = context.notes.pop(NESTED)
    spec = request.app[SPEC]
    for name, items in relations.items():
        relation = resource.relations[name]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValidationFailed([{"path": f"/{name}", "message": "expected an array of objects"}])
        if not items:
            continue
        handlers = NestedHandlers(resource, relation, spec.resources[relation.through])
        await authorize(request, resource, "update")  # what POST /api/<parent>/{id}/<relation> asks
        if relation.attach != "any":
            await authorize(request, spec.resources[relation.target], relation.attach)
        parent = handlers.managers(request)[0]
        await parent.lock_for_write(context.conn, str(record[resource.primary_key]), request[IDENTITY], "attach")
        for index, item in enumerate(items):
            try:
                await _link(handlers, request, context, record, dict(item))
            except Problem as exc:
                raise prefixed(exc, f"/{name}/{index}") from None


async def _link(
    h: NestedHandlers, request: web.Request, context: WriteContext, record: dict[str, Any], data: dict[str, Any]
) -> None:
    """One link, as NestedHandlers.attach (or Invitations.invite) makes it, on the create's connection."""
    conn, identity, relation = context.conn, request[IDENTITY], h.relation
    h._refuse_url_fields(data, h.set_elsewhere())
    if relation.invite is not None:
        data[relation.key] = str(record[h.parent.primary_key])
        data[relation.invite.status_field] = PENDING
        await h.precheck(request, data, identity, conn)
        other = h.other_value(data)
        if await h.attachable(request, conn, other, identity):
            await Invitations(h)._offer(request, conn, data, other, identity)
        return
    data[relation.key] = record[h.parent.primary_key]
    if relation.attach != "any":
        await h.precheck(request, data, identity, conn)
        if not await h.attachable(request, conn, h.other_value(data), identity):
            raise h._unattachable()
    await h._create_link(h.managers(request)[1], data, write_context(request), conn)
