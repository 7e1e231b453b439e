"""Rules a relation declares about its links, kept on the public write hooks:

    members:
      through: team_members
      key: team_id
      other: user_id
      owner_joins: {role: owner}   # a new team's owner becomes a member with role owner
      keep_one: {role: owner}      # a team keeps at least one (active) member with role owner

- `owner_joins`: the create of a parent row links its owner, with these values (and active when
  the relation invites), in the create's transaction and through the join resource's
  ResourceManager, so the link is validated and every plugin's hooks (events, history) see it.
- `keep_one`: an update or delete of a link that holds these values (active, when the relation
  invites) and would stop holding them (removed, changed, moved to another parent) first locks
  the parent row, so concurrent changes queue up, then counts the parent's other such links:
  none is a 409. A pending invitation never counts.

One `LinkRules` per app, registered on its plugin manager at `configure` (the write hooks receive
no app; this object holds it). A spec without either key registers nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from sqlglot import exp

from engine.http.keys import MANAGERS
from engine.kernel.errors import Conflict
from engine.kernel.hooks import hookimpl
from engine.kernel.identity import Identity
from engine.resources.context import WriteContext
from engine.spec import Relation, Resource, Spec
from engine.spec.model import ACTIVE
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import column, table


@dataclass(frozen=True)
class _Kept:
    """One `keep_one`: the parent, its relation, and the statements the check runs."""

    parent: Resource
    relation: Relation
    through: Resource
    lock: Compiled  # SELECT 1 FROM <parent> WHERE <pk> = $parent FOR UPDATE
    others: Compiled  # SELECT count(*) FROM <through> WHERE <key> = $parent AND <values> AND NOT <pk> = ANY($leaving)

    def holds(self, row: dict[str, Any]) -> bool:
        """Whether a link (its stored or its new values) is one of those the parent must keep."""
        values = self.relation.keep_one or {}
        if any(row.get(name) != value for name, value in values.items()):
            return False
        invite = self.relation.invite
        return invite is None or row.get(invite.status_field) == ACTIVE

    def refusal(self, action: str, previous: dict[str, Any]) -> Conflict:
        wanted = ", ".join(f"{name} {value}" for name, value in (self.relation.keep_one or {}).items())
        verb = "remove" if action == "delete" else "change"
        key, other = self.relation.key, self.relation.other
        return Conflict(
            f"every {self.parent.name} row keeps at least one of its {self.relation.name} with {wanted}: "
            f"give {wanted} to another one before you {verb} this one",
            **{key: str(previous[key]), other: previous[other]},
        )


def _kept(parent: Resource, relation: Relation, through: Resource) -> _Kept:
    lock = exp.select(exp.Literal.number(1)).from_(table(parent.table))
    lock = lock.where(column(parent.primary_key).eq(param("parent"))).lock()
    conditions = [column(relation.key).eq(param("parent"))]
    conditions += [column(name).eq(param(f"v_{name}")) for name in relation.keep_one or {}]
    if relation.invite is not None:
        conditions.append(column(relation.invite.status_field).eq(param("active")))
    leaving = exp.Any(this=exp.Paren(this=param("leaving")))
    conditions.append(exp.Not(this=column(through.primary_key).eq(leaving)))
    others = exp.select(exp.Count(this=exp.Star())).from_(table(through.table)).where(exp.and_(*conditions))
    return _Kept(parent, relation, through, compile_expression(lock), compile_expression(others))


LEAVING = "relations.link_rules.leaving"  # WriteContext.shared key, with a write set and a rule: its links leaving


class LinkRules:
    """The `owner_joins` and `keep_one` rules of one app's spec, as write hooks."""

    def __init__(self, app: web.Application, spec: Spec):
        self.app = app
        self.joins: dict[str, tuple[Relation, ...]] = {}  # parent -> its relations the owner joins
        self.kept: dict[str, tuple[_Kept, ...]] = {}  # join resource -> the rules its links keep
        for parent in spec.resources.values():
            for relation in parent.relations.values():
                if relation.owner_joins is not None:
                    self.joins[parent.name] = (*self.joins.get(parent.name, ()), relation)
                if relation.keep_one is not None:
                    rule = _kept(parent, relation, spec.resources[relation.through])
                    self.kept[relation.through] = (*self.kept.get(relation.through, ()), rule)

    @staticmethod
    def of(app: web.Application, spec: Spec) -> LinkRules | None:
        rules = LinkRules(app, spec)
        return rules if rules.joins or rules.kept else None

    # The write hooks return a coroutine only when a rule applies: every other write stays free of them.

    @hookimpl(trylast=True)
    def write_needs_transaction(self, resource: Resource, action: str) -> bool:
        return (action == "create" and resource.name in self.joins) or resource.name in self.kept

    @hookimpl(trylast=True)
    def write_needs_previous(self, resource: Resource) -> bool:
        return resource.name in self.kept

    @hookimpl(trylast=True)
    def after_write(
        self, conn: asyncpg.Connection, resource: Resource, action: str, record: dict, identity: Identity | None
    ) -> Awaitable[None] | None:
        """A new row's owner joins the relations that say so, in the row's transaction."""
        if action != "create" or resource.name not in self.joins:
            return None
        return self._join(conn, resource, record, identity)

    async def _join(
        self, conn: asyncpg.Connection, resource: Resource, record: dict, identity: Identity | None
    ) -> None:
        owner = record.get(resource.owner or "")
        if owner is None:
            return
        for relation in self.joins[resource.name]:
            link = {relation.key: str(record[resource.primary_key]), relation.other: owner}
            link.update(relation.owner_joins or {})
            if relation.invite is not None:
                link[relation.invite.status_field] = ACTIVE
            await self.app[MANAGERS][relation.through].create(link, identity, conn=conn)

    @hookimpl(trylast=True)
    def before_write(
        self,
        context: WriteContext,
        conn: asyncpg.Connection,
        resource: Resource,
        action: str,
        data: dict[str, Any] | None,
        previous: dict[str, Any] | None,
    ) -> Awaitable[None] | None:
        """Refuse to remove, change or move away the last link a parent must keep (409)."""
        rules = self.kept.get(resource.name)
        if rules is None or action == "create" or previous is None:
            return None
        leaving = [rule for rule in rules if rule.holds(previous) and not _stays(rule, action, data or {}, previous)]
        return self._keep(context, conn, action, previous, leaving) if leaving else None

    async def _keep(
        self, context: WriteContext, conn: asyncpg.Connection, action: str, previous: dict[str, Any], rules: list[_Kept]
    ) -> None:
        link = previous[rules[0].through.primary_key]
        for rule in rules:
            gone = [link]
            if context.write_set is not None:
                # A set-based write (PATCH or DELETE by filter) asks every row before its one statement
                # runs: the rows of the set already asked leave too, and must not count as staying.
                gone = context.shared.setdefault((LEAVING, context.write_set, rule.relation.name), [])
                gone.append(link)
            parent = previous[rule.relation.key]
            # Lock the parent first: concurrent changes to its links queue up, so two holders can
            # never give up their values at the same time and leave the parent with none.
            await conn.fetchval(rule.lock.sql, *rule.lock.args({"parent": parent}))
            values = {"parent": parent, "leaving": gone, "active": ACTIVE}
            values.update({f"v_{name}": value for name, value in (rule.relation.keep_one or {}).items()})
            if await conn.fetchval(rule.others.sql, *rule.others.args(values)) == 0:
                raise rule.refusal(action, previous)


def _stays(rule: _Kept, action: str, data: dict[str, Any], previous: dict[str, Any]) -> bool:
    """Whether an update leaves the link holding the rule's values, on the same parent."""
    if action != "update":
        return False
    key = rule.relation.key
    return str(data.get(key, previous[key])) == str(previous[key]) and rule.holds({**previous, **data})
