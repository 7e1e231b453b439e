"""Routes generated from many-to-many declarations, e.g. `members: {through: team_members, ...}` on teams:

    GET    /api/teams/{id}/members            the join rows, with the full list query language (counts, groups)
    POST   /api/teams/{id}/members            {"user_id": ..., "role": ...}  -> 201
    GET    /api/teams/{id}/members/{user_id}  one join row
    PATCH  /api/teams/{id}/members/{user_id}  the join row's own fields (only if it has any)
    DELETE /api/teams/{id}/members/{user_id}  -> 204

Each link carries its far-side row (`"user": {...}`, null when the caller may not read it) unless a
`fields` projection leaves it out. A relation with `invite` adds the invitee's routes (invitations.py):
POST answers 202 with the invitation whatever the user id, and pending links stay out of these
routes until the invitee accepts.

Reading needs the parent's `read` role and a parent row the caller can read; writing needs its
`update` role and a parent row its `attach` access rule allows (by default its update rule). A
parent they cannot read is a 404 for everything under it; one they can read but not change is a
403 on writes. Join rows are written through the
join resource's ResourceManager (validation, before/after_write hooks, events) inside one
transaction that also locks the parent row, so concurrent membership changes queue up.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from aiohttp import web

from engine.db.pool import one_connection
from engine.features.relations.invitations import Invitations, invitation_routes
from engine.features.relations.service import RELATIONS
from engine.http.body import read_object
from engine.http.handlers import add_count, aggregate_rows, authorize, embedded_page, write_context
from engine.http.keys import CONFIG, IDENTITY, MANAGERS, PLUGINS, POOL
from engine.http.query import parse_fields, parse_include, parse_list_query, parse_sort, refuse_parameters
from engine.http.responses import json_response
from engine.kernel.errors import NotFound, ValidationFailed
from engine.kernel.hooks import call_all
from engine.kernel.identity import Identity
from engine.resources import field_rules
from engine.resources.context import WriteContext
from engine.resources.listing import ListQuery
from engine.resources.manager import ResourceManager
from engine.resources.validation import read_only_errors
from engine.resources.values import ValueProblem, from_json, from_query
from engine.spec import Relation, Resource, Spec
from engine.spec.model import ACTIVE
from engine.sql.queries import Filter, bind_predicates


def nested_routes(spec: Spec) -> list[web.RouteDef]:
    """Every nested route of the spec, one family per declared relation."""
    return [
        route
        for parent in spec.resources.values()
        for relation in parent.relations.values()
        for route in NestedHandlers(parent, relation, spec.resources[relation.through]).routes()
    ] + invitation_routes(spec)


class NestedHandlers:
    def __init__(self, parent: Resource, relation: Relation, through: Resource):
        self.parent = parent
        self.relation = relation
        self.through = through
        self.base = f"/api/{parent.name}/{{id}}/{relation.name}"
        self.other_param = relation.other if relation.other != "id" else "other"
        self.item = self.base + f"/{{{self.other_param}}}"
        self.url_fields = (relation.key, relation.other)

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.get(self.base, self.list),
            web.post(self.base, self.attach),
            web.get(self.item, self.read),
            web.delete(self.item, self.detach),
        ]
        if self.editable_fields():
            routes.append(web.patch(self.item, self.update))
        if self.relation.invite is not None:
            routes += [web.post(self.item + "/accept", self.accept), web.post(self.item + "/decline", self.decline)]
        return routes

    async def accept(self, request: web.Request) -> web.Response:
        refuse_parameters(request.query, "accepting an invitation")
        return await Invitations(self).accept(request)

    async def decline(self, request: web.Request) -> web.Response:
        refuse_parameters(request.query, "declining an invitation")
        return await Invitations(self).decline(request)

    def set_elsewhere(self) -> tuple[str, ...]:
        """Fields a POST may not send: the key (from the URL) and an invitation's status (the invitee's)."""
        invite = self.relation.invite
        return (self.relation.key, *((invite.status_field,) if invite is not None else ()))

    def active_only(self) -> tuple[Filter, ...]:
        """The filter that keeps pending invitations out of the parent's view of its links."""
        invite = self.relation.invite
        return (Filter(invite.status_field, "eq", ACTIVE),) if invite is not None else ()

    def editable_fields(self) -> tuple[str, ...]:
        """The join resource's own fields (a member's role); none means no PATCH route."""
        properties = self.through.schema.get("properties", {})
        return tuple(
            name
            for name, field in self.through.fields.items()
            if name in properties
            and name not in (*self.url_fields, self.through.primary_key, *self.set_elsewhere())
            and not field.read_only
            and not field.generated
        )

    # --- helpers -----------------------------------------------------------------------------------

    def managers(self, request: web.Request) -> tuple[ResourceManager, ResourceManager]:
        managers = request.app[MANAGERS]
        return managers[self.parent.name], managers[self.through.name]

    def other_of(self, request: web.Request) -> Any:
        text = request.match_info[self.other_param]
        try:
            return from_query(self.through.fields[self.relation.other], text)
        except ValueProblem:
            raise self._not_linked(request) from None

    def _not_linked(self, request: web.Request) -> NotFound:
        other, parent_id = request.match_info[self.other_param][:100], request.match_info["id"][:100]
        return NotFound(f"{other!r} is not among the {self.relation.name} of {self.parent.name} {parent_id!r}")

    def _refuse_url_fields(self, data: dict[str, Any], fields: tuple[str, ...]) -> None:
        invite = self.relation.invite
        status = invite.status_field if invite is not None else None
        errors = [
            {
                "path": f"/{name}",
                "message": f"'{name}' is read-only here: "
                + ("only the invitee changes it, by accepting" if name == status else "it is set by the URL"),
            }
            for name in fields
            if name in data
        ]
        if errors:
            raise ValidationFailed(errors)

    async def _visible_parent(self, request: web.Request, identity: Identity | None) -> Any:
        """The parent's primary key if the caller may read the parent row; 404 otherwise."""
        manager = self.managers(request)[0]
        row = await manager.get(request.match_info["id"], identity, (self.parent.primary_key,))
        return row[self.parent.primary_key]

    async def join_pk(
        self, conn: asyncpg.Connection, request: web.Request, parent_pk: Any, other: Any, status: str | None = None
    ) -> str | None:
        """The join row's primary key for (parent, other), with that invitation status if given; None
        when they are not linked."""
        through = self.managers(request)[1]
        filters = (Filter(self.relation.key, "eq", parent_pk), Filter(self.relation.other, "eq", other))
        if status is not None and self.relation.invite is not None:
            filters += (Filter(self.relation.invite.status_field, "eq", status),)
        sort = parse_sort(self.through, None)
        compiled = through.queries.list(filters, sort, (self.through.primary_key,), None, ())
        values = {f"f{i}": f.value for i, f in enumerate(filters)}
        record = await conn.fetchrow(compiled.sql, *compiled.args({**values, "limit": 1}))
        return None if record is None else str(record[self.through.primary_key])

    # --- reads -------------------------------------------------------------------------------------

    async def list(self, request: web.Request) -> web.Response:
        """The parent's links, with the whole list language of the join resource: filters, or/and/not,
        q, sort, cursor, fields, include, count (`meta.total`) and group_by/aggregate (groups)."""
        await authorize(request, self.parent, "read")
        config, identity = request.app[CONFIG], request[IDENTITY]
        query = parse_list_query(
            self.through, request.query, page_size=config.page_size, max_page_size=config.max_page_size
        )
        embedding = request.app[RELATIONS].plan(self.through, query.include, query.fields, self.relation)
        async with one_connection():  # the parent, its links and their far rows: one connection
            parent_pk = await self._visible_parent(request, identity)
            mine = (Filter(self.relation.key, "eq", parent_pk), *self.active_only())
            manager = self.managers(request)[1]
            if query.aggregates:  # groups of this parent's links only, as the rows would be
                groups = await aggregate_rows(request, manager, replace(query, filters=(*query.filters, *mine)))
                return json_response({"data": groups})
            query = replace(embedding.widen(query), filters=(*query.filters, *mine))
            rows, next_cursor = await embedded_page(request, embedding, self.through, manager, query)
        headers = {}
        if next_cursor is not None:
            params = [(k, v) for k, v in request.query.items() if k != "cursor"] + [("cursor", next_cursor)]
            headers["Link"] = f'<{request.path}?{urlencode(params)}>; rel="next"'
        body = {"data": rows, "meta": {"limit": query.limit, "next_cursor": next_cursor}}
        await add_count(request, manager, query, (body, headers))
        return json_response(body, headers=headers)

    async def read(self, request: web.Request) -> web.Response:
        await authorize(request, self.parent, "read")
        identity = request[IDENTITY]
        fields = parse_fields(self.through, request.query)
        embedding = request.app[RELATIONS].plan(self.through, parse_include(request.query), fields, self.relation)
        other = self.other_of(request)
        async with one_connection():  # the parent, the link and its far row: one connection
            parent_pk = await self._visible_parent(request, identity)
            filters = (Filter(self.relation.key, "eq", parent_pk), Filter(self.relation.other, "eq", other))
            filters += self.active_only()
            query = ListQuery(filters=filters, sort=parse_sort(self.through, None), fields=embedding.fields, limit=1)
            rows, _ = await embedded_page(request, embedding, self.through, self.managers(request)[1], query)
            if not rows:
                raise self._not_linked(request)
        return json_response({"data": rows[0]})

    # --- writes ------------------------------------------------------------------------------------

    async def attach(self, request: web.Request) -> web.Response:
        await authorize(request, self.parent, "update")
        refuse_parameters(request.query, f"adding to {self.relation.name}")
        if self.relation.attach != "any":
            await authorize(request, request.app[RELATIONS].spec.resources[self.relation.target], self.relation.attach)
        data = await read_object(request, request.app[CONFIG].body_limit)
        self._refuse_url_fields(data, self.set_elsewhere())
        if self.relation.invite is not None:
            return await Invitations(self).invite(request, data)
        identity = request[IDENTITY]
        parent, through = self.managers(request)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            parent_row = await parent.lock_for_write(conn, request.match_info["id"], identity, "attach")
            data[self.relation.key] = parent_row[self.parent.primary_key]
            if self.relation.attach != "any":  # checked before anything is written, after the body
                await self.precheck(request, data, identity, conn)
                if not await self.attachable(request, conn, self.other_value(data), identity):
                    raise self._unattachable()
            row = await self._create_link(through, data, write_context(request), conn)
        location = f"{request.path}/{quote(str(row[self.relation.other]), safe='')}"
        return json_response({"data": row}, status=201, headers={"Location": location})

    async def precheck(
        self, request: web.Request, data: dict[str, Any], identity: Identity | None, conn: asyncpg.Connection
    ) -> None:
        """What creating the join row would refuse in the body alone (read-only fields, before_validate
        hooks, the schema, field write rules), on a copy: so a refusal never depends on whether the
        far-side row exists."""
        copy = {**data, self.relation.key: str(data[self.relation.key])}
        errors = read_only_errors(self.through, copy, updating=False)
        if errors:
            raise ValidationFailed(errors)
        hook = request.app[PLUGINS].hook.before_validate
        await call_all(hook, resource=self.through, action="create", data=copy, identity=identity, previous=None)
        through = self.managers(request)[1]
        through.validator.validate(copy)
        rules = await through.field_rules("write", identity)
        if rules:  # e.g. role owner: refused alike for an existing user and an unknown id
            await field_rules.check_writes(conn, through.queries, rules, copy, None)

    def other_value(self, data: dict[str, Any]) -> Any:
        """The (validated) body's far-side id as its column's type."""
        return from_json(self.through.fields[self.relation.other], data[self.relation.other])

    async def attachable(
        self, request: web.Request, conn: asyncpg.Connection, other: Any, identity: Identity | None
    ) -> bool:
        """Whether the far-side row exists and, under `attach: read|update`, passes that action's access
        predicates (one SQL statement): a hidden row and a missing one are the same answer."""
        target = request.app[MANAGERS][self.relation.target]
        action = self.relation.attach
        predicates = () if action == "any" else await target.predicates(action, identity)
        compiled = target.queries.get(predicates, (target.resource.primary_key,))
        return await conn.fetchrow(compiled.sql, *compiled.args(bind_predicates(predicates, {"pk": other}))) is not None

    def _unattachable(self) -> ValidationFailed:
        message = f"no {self.relation.target} row you may {self.relation.attach} has this id"
        return ValidationFailed([{"path": f"/{self.relation.other}", "message": message}])

    async def _create_link(
        self, through: ResourceManager, data: dict[str, Any], context: WriteContext, conn: asyncpg.Connection
    ) -> dict[str, Any]:
        """Create the join row; a far-side row deleted since the check answers like one never there
        (a soft-deleted far-side row too: the create refuses a reference to it, engine.sql.references).
        The relation's `attach` rule, not the references' `check`, decides which rows it may join."""
        context.references_checked = frozenset((self.relation.key, self.relation.other))
        try:
            return await through.create(data, context, conn=conn)
        except ValidationFailed as exc:
            missing = [{"path": f"/{self.relation.other}", "message": f"no {self.relation.target} row with this id"}]
            if self.relation.attach != "any" and exc.errors == missing:
                raise self._unattachable() from None
            raise

    async def update(self, request: web.Request) -> web.Response:
        await authorize(request, self.parent, "update")
        refuse_parameters(request.query, f"a PATCH of a link of {self.relation.name}")
        data = await read_object(request, request.app[CONFIG].body_limit)
        self._refuse_url_fields(data, tuple(dict.fromkeys((*self.url_fields, *self.set_elsewhere()))))
        other, identity = self.other_of(request), request[IDENTITY]
        parent, through = self.managers(request)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            parent_row = await parent.lock_for_write(conn, request.match_info["id"], identity, "attach")
            join_pk = await self.join_pk(conn, request, parent_row[self.parent.primary_key], other, ACTIVE)
            if join_pk is None:
                raise self._not_linked(request)
            row = await through.update(join_pk, data, write_context(request), conn=conn)
        return json_response({"data": row})

    async def detach(self, request: web.Request) -> web.Response:
        await authorize(request, self.parent, "update")
        refuse_parameters(request.query, f"removing from {self.relation.name}")
        other, identity = self.other_of(request), request[IDENTITY]
        parent, through = self.managers(request)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            parent_row = await parent.lock_for_write(conn, request.match_info["id"], identity, "attach")
            join_pk = await self.join_pk(conn, request, parent_row[self.parent.primary_key], other)
            if join_pk is not None:
                await through.delete(join_pk, write_context(request), conn=conn)
            elif self.relation.invite is None:
                raise self._not_linked(request)
            # with invitations, "no link" and "a pending invitation, now revoked" answer alike
        return web.Response(status=204)
