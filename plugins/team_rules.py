"""The example app's team rules, written on the engine's public hooks (a model for your own plugins).

1. Creating a team makes its owner a member with role `owner`, in the same transaction.
2. A team always keeps at least one member with role `owner`: removing or demoting the last one
   is a 409 problem.

How it works, and why this way:
- `startup` runs once the database pool is open; it keeps the join resource's ResourceManager and
  builds this plugin's SQL once (sqlglot, bound parameters), so no request pays for either.
- `after_write` and `before_write` run inside the write's transaction and receive its connection:
  whatever they write commits or rolls back with the change, and raising a Problem rolls back.
- The membership is created through the ResourceManager with that connection, not with a bare
  INSERT, so it is validated and every plugin's hooks (events, audit ...) see it like any other write.

Project plugins are loaded afresh for each app, so this module's state belongs to one app.
Disable the rules with `plugins: {disabled: [team_rules]}` in resources.yaml.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from sqlglot import exp

from engine.plugin import MANAGERS, SPEC, Conflict, column, compile_expression, hookimpl, param, table

TEAMS = "teams"  # the resource, and its many-to-many relation to users ...
MEMBERS = "members"
ROLE = "role"  # ... whose join rows carry a role
OWNER = "owner"


class _Rules:
    """What the hooks need, resolved from the spec at start-up."""

    def __init__(self, app: Any):
        spec = app[SPEC]
        teams = spec.resources[TEAMS]
        self.relation = teams.relations[MEMBERS]
        self.memberships = app[MANAGERS][self.relation.through]
        joined = spec.resources[self.relation.through]
        self.team_pk, self.owner_field, self.member_pk = teams.primary_key, teams.owner, joined.primary_key
        self.lock_team = compile_expression(
            exp.select(exp.Literal.number(1))
            .from_(table(teams.table))
            .where(column(teams.primary_key).eq(param("team")))
            .lock()
        )
        owners = [
            column(self.relation.key).eq(param("team")),
            column(ROLE).eq(param("owner")),
            exp.NEQ(this=column(joined.primary_key), expression=param("member")),
        ]
        if self.relation.invite is not None:  # an owner who has not accepted yet does not keep the team
            owners.append(column(self.relation.invite.status_field).eq(param("active")))
        self.other_owners = compile_expression(
            exp.select(exp.Count(this=exp.Star())).from_(table(joined.table)).where(exp.and_(*owners))
        )


_rules: _Rules | None = None


@hookimpl
def startup(app) -> None:
    global _rules
    _rules = _Rules(app) if TEAMS in app[SPEC].resources else None


# The write hooks return a coroutine only when their rule applies: the engine awaits whatever a
# hook returns, and every other write stays free of them.


@hookimpl
def write_needs_transaction(resource, action) -> bool:
    """Only the writes these rules act on: a team's creation and changes to memberships."""
    if _rules is None:
        return False
    return (resource.name == TEAMS and action == "create") or resource.name == _rules.relation.through


@hookimpl
def after_write(conn, resource, action, record, identity) -> Awaitable[None] | None:
    """A new team's owner becomes its first member, with role owner, in the team's transaction."""
    if _rules is None or resource.name != TEAMS or action != "create":
        return None
    return _add_owner(_rules, conn, record, identity)


async def _add_owner(rules: _Rules, conn, record, identity) -> None:
    membership = {
        rules.relation.key: str(record[rules.team_pk]),
        rules.relation.other: record[rules.owner_field],
        ROLE: OWNER,
    }
    await rules.memberships.create(membership, identity, conn=conn)


@hookimpl
def write_needs_previous(resource) -> bool:
    """The stored membership (its role), on any change to one."""
    return _rules is not None and resource.name == _rules.relation.through


@hookimpl
def before_write(conn, resource, action, data, previous) -> Awaitable[None] | None:
    """Refuse to remove, demote or move away the last owner of a team (409)."""
    if _rules is None or resource.name != _rules.relation.through or action == "create":
        return None
    if previous[ROLE] != OWNER:
        return None
    team = previous[_rules.relation.key]
    stays = action == "update" and data.get(ROLE, OWNER) == OWNER
    if stays and str(data.get(_rules.relation.key, team)) == str(team):
        return None
    return _keep_an_owner(_rules, conn, action, team, previous)


async def _keep_an_owner(rules: _Rules, conn, action: str, team: Any, previous: dict[str, Any]) -> None:
    # Lock the team first: concurrent changes to its memberships queue up, so two owners can
    # never demote each other at the same time and leave the team without one.
    await conn.fetchval(rules.lock_team.sql, *rules.lock_team.args({"team": team}))
    values = {"team": team, "owner": OWNER, "member": previous[rules.member_pk], "active": "active"}
    others = await conn.fetchval(rules.other_owners.sql, *rules.other_owners.args(values))
    if others == 0:
        verb = "remove" if action == "delete" else "demote"
        raise Conflict(
            f"a team must keep at least one owner: make another member an owner before you {verb} this one",
            **{rules.relation.key: str(team), rules.relation.other: previous[rules.relation.other]},
        )
