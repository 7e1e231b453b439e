"""Invitations: the links of a relation declared with `invite` are offers the invitee accepts.

    members: {through: team_members, key: team_id, other: user_id,
              invite: {status_field: status, parent_fields: [name]}}

    POST /api/teams/{id}/members                    -> 202 {"data": <the invitation>}, whatever the user id
    GET  /api/me/invitations                        the caller's pending invitations, with the team's name
    POST /api/teams/{id}/members/{user_id}/accept   the invitee only: pending -> active (200, the link)
    POST /api/teams/{id}/members/{user_id}/decline  the invitee only: the invitation is deleted (204)

Why it answers this way: a link created without the far side's consent would let anyone put
anyone in their team, and an answer that differs for an existing and an unknown user id would
enumerate user ids. So the POST validates the body, then creates a pending link only when the
far-side row exists (and passes `attach`), and answers the same 202 and the same body either
way; pending links stay out of the parent's routes and includes, and grant nothing (access rules
count `active` links only), until the invitee (the caller whose user id is the `other` column)
accepts. Every write goes through the join resource's ResourceManager (hooks, events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from sqlglot import exp

from engine.http.handlers import BEARER_CHALLENGE, authorize, write_context
from engine.http.keys import CONFIG, IDENTITY, MANAGERS, POOL
from engine.http.query import refuse_parameters
from engine.http.responses import json_response
from engine.kernel.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from engine.kernel.identity import Identity
from engine.resources.values import ValueProblem, from_query
from engine.spec import Relation, Resource, Spec
from engine.spec.model import ACTIVE, PENDING
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import column, table

if TYPE_CHECKING:
    from engine.features.relations.nested import NestedHandlers


class Invitations:
    """The invitation steps of one relation's nested routes."""

    def __init__(self, handlers: NestedHandlers):
        self.h = handlers
        self.relation = handlers.relation
        assert self.relation.invite is not None
        self.status = self.relation.invite.status_field
        self.live_parent = live_parent_sql(handlers.parent)

    def shown(self, data: dict[str, Any]) -> dict[str, Any]:
        """The 202 body: the invitation as asked, schema defaults filled in; nothing stored is in it
        (no id, no timestamps), so it cannot differ between a real and an unknown invitee."""
        through = self.h.through
        body = {}
        for name in through.schema.get("properties", {}):
            field = through.fields.get(name)
            if field is None or field.generated or field.read_only or name == through.primary_key:
                continue
            if name in data:
                body[name] = data[name]
            elif field.has_default:
                body[name] = field.default
        return body

    async def invite(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        identity, h = request[IDENTITY], self.h
        parent = h.managers(request)[0]
        async with request.app[POOL].acquire() as conn, conn.transaction():
            parent_row = await parent.lock_for_write(conn, request.match_info["id"], identity, "attach")
            data[self.relation.key] = str(parent_row[h.parent.primary_key])
            data[self.status] = PENDING
            await h.precheck(request, data, identity, conn)
            other = h.other_value(data)
            if await h.attachable(request, conn, other, identity):
                await self._offer(request, conn, data, other, identity)
        return json_response({"data": self.shown(data)}, status=202)

    async def _offer(self, request: web.Request, conn: Any, data: dict[str, Any], other: Any, identity: Any) -> None:
        """Create the pending link, or refresh a pending one's own fields; an active link is a 409 (the
        caller sees the parent's active links anyway)."""
        h, through = self.h, self.h.managers(request)[1]
        parent_pk = data[self.relation.key]
        if await h.join_pk(conn, request, parent_pk, other, ACTIVE) is not None:
            fields = [self.relation.key, self.relation.other]
            raise Conflict(f"this {self.relation.target} row is already among the {self.relation.name}", fields=fields)
        pending = await h.join_pk(conn, request, parent_pk, other, PENDING)
        if pending is not None:
            patch = {name: data[name] for name in h.editable_fields() if name in data}
            await through.update(pending, patch, write_context(request), conn=conn)
            return
        context = write_context(request)  # the relation's `attach` rule decided which rows it may join
        context.references_checked = frozenset((self.relation.key, self.relation.other))
        try:  # a savepoint: a far-side row deleted since the check leaves nothing and answers the same
            await through.create(data, context, conn=conn)
        except ValidationFailed as exc:
            if [e["path"] for e in exc.errors] != [f"/{self.relation.other}"]:
                raise

    # --- the invitee's routes ----------------------------------------------------------------------

    async def _pending(self, request: web.Request, conn: Any) -> str:
        """The caller's own pending invitation named by the URL; 404 for anything else (the write that
        follows locks the row and answers 404 if it went meanwhile)."""
        identity = request[IDENTITY]
        if identity is None:
            raise Unauthorized("sign in to answer your invitations", headers=BEARER_CHALLENGE)
        await authorize(request, self.h.parent, "read")
        if not identity.permits(self.h.parent.name, "update"):  # answering writes the membership
            raise Forbidden(f"the scopes of this credential do not allow answering invitations to {self.h.parent.name}")
        other = self.h.other_of(request)
        parent_pk = request.app[MANAGERS][self.h.parent.name].parse_pk(request.match_info["id"])
        pk = None
        mine = invitee_value(self.h.through, self.relation, identity) == other
        if mine and await self._parent_lives(conn, parent_pk):
            pk = await self.h.join_pk(conn, request, parent_pk, other, PENDING)
        if pk is None:
            raise NotFound(f"you have no pending invitation to the {self.relation.name} of this {self.h.parent.name}")
        return pk

    async def _parent_lives(self, conn: Any, parent_pk: Any) -> bool:
        if self.live_parent is None:
            return True
        return await conn.fetchval(self.live_parent.sql, *self.live_parent.args({"pk": parent_pk})) is not None

    async def accept(self, request: web.Request) -> web.Response:
        through = self.h.managers(request)[1]
        async with request.app[POOL].acquire() as conn, conn.transaction():
            pk = await self._pending(request, conn)
            row = await through.update(pk, {self.status: ACTIVE}, write_context(request), conn=conn)
        return json_response({"data": row})

    async def decline(self, request: web.Request) -> web.Response:
        through = self.h.managers(request)[1]
        async with request.app[POOL].acquire() as conn, conn.transaction():
            pk = await self._pending(request, conn)
            await through.delete(pk, write_context(request), conn=conn)
        return web.Response(status=204)


def invitee_value(through: Resource, relation: Relation, identity: Identity) -> Any:
    """The caller's user id as the `other` column's type; None when it cannot be one."""
    try:
        return from_query(through.fields[relation.other], identity.user_id)
    except ValueProblem:
        return None


def invited_relations(spec: Spec) -> list[tuple[Resource, Relation]]:
    return [(p, r) for p in spec.resources.values() for r in p.relations.values() if r.invite is not None]


def mine_sql(spec: Spec, parent: Resource, relation: Relation) -> Compiled:
    """SELECT <link columns>, <parent pk and shown fields> FROM <through> JOIN <parent> ON <key>
    WHERE <other> = $me AND <status> = 'pending' ORDER BY created_at DESC LIMIT $limit."""
    assert relation.invite is not None
    through = spec.resources[relation.through]
    shown = (parent.primary_key, *relation.invite.parent_fields)
    t, p = through.table, parent.table
    selected = [column(c, t) for c in through.columns]
    selected += [exp.alias_(column(c, p), f"_p{i}") for i, c in enumerate(shown)]
    order = [*(["created_at"] if "created_at" in through.fields else []), through.primary_key]
    query = (
        exp.select(*selected)
        .from_(table(t))
        .join(table(p), on=column(parent.primary_key, p).eq(column(relation.key, t)))
        .where(
            exp.and_(
                column(relation.other, t).eq(param("me")),
                column(relation.invite.status_field, t).eq(param("pending")),
                *_live(parent),
            )
        )
        .order_by(*[exp.Ordered(this=column(c, t), desc=True) for c in order])
        .limit(param("limit"))
    )
    return compile_expression(query)


class MyInvitations:
    """GET /api/me/invitations: the caller's pending invitations across every relation with `invite`."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.queries = [(p, r, mine_sql(spec, p, r)) for p, r in invited_relations(spec)]

    async def answer(self, request: web.Request) -> web.Response:
        identity = request[IDENTITY]
        if identity is None:
            raise Unauthorized("sign in to see your invitations", headers=BEARER_CHALLENGE)
        refuse_parameters(request.query, "your invitations")  # all of them, in one page: none to ignore
        limit = request.app[CONFIG].max_page_size
        found: list[dict[str, Any]] = []
        for parent, relation, compiled in self.queries:
            me = invitee_value(self.spec.resources[relation.through], relation, identity)
            if me is None:
                continue
            values = {"me": me, "pending": PENDING, "limit": limit}
            for record in await request.app[POOL].fetch(compiled.sql, *compiled.args(values)):
                found.append(self._item(parent, relation, record))
        found.sort(key=lambda item: str(item.get("created_at", "")), reverse=True)
        return json_response({"data": found[:limit], "meta": {"limit": limit}})

    def _item(self, parent: Resource, relation: Relation, record: Any) -> dict[str, Any]:
        """The pending link, the parent's shown fields under the key's name without `_id`, and the
        URLs that answer it."""
        assert relation.invite is not None
        through = self.spec.resources[relation.through]
        count = len(through.columns)
        item = {name: record[i] for i, name in enumerate(through.columns)}
        shown = (parent.primary_key, *relation.invite.parent_fields)
        item[relation.key.removesuffix("_id")] = {name: record[count + i] for i, name in enumerate(shown)}
        base = f"/api/{parent.name}/{quote(str(item[relation.key]), safe='')}/{relation.name}"
        base += f"/{quote(str(item[relation.other]), safe='')}"
        item["_links"] = {"accept": base + "/accept", "decline": base + "/decline"}
        return item


def invitation_routes(spec: Spec) -> list[web.RouteDef]:
    """`GET /api/me/invitations`, when some relation declares `invite`."""
    if not invited_relations(spec):
        return []
    return [web.get("/api/me/invitations", MyInvitations(spec).answer)]


def _live(parent: Resource) -> list[exp.Expression]:
    """The condition that the parent row is not soft-deleted: an invitation to a deleted row is
    neither listed nor answered (the row is a 404 everywhere until it is restored)."""
    if parent.soft_delete is None:
        return []
    return [exp.Is(this=column(parent.soft_delete.column, parent.table), expression=exp.Null())]


def live_parent_sql(parent: Resource) -> Compiled | None:
    """SELECT 1 FROM <parent> WHERE <pk> = $pk AND <not deleted>; None when the parent never soft-deletes."""
    if parent.soft_delete is None:
        return None
    key = column(parent.primary_key, parent.table).eq(param("pk"))
    return compile_expression(exp.select("1").from_(table(parent.table)).where(exp.and_(key, *_live(parent))))
