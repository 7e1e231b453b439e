"""The `access` block of resources.yaml, compiled into one SQL predicate per resource and mode.

    access:
      read:  [owner, {relation: members}]
      write: [owner, {relation: members, where: {role: [owner, admin]}}]

The rules of a list are alternatives (OR). `owner` matches the owner field, `anyone` every row,
and `{relation: r, where: {...}}` an EXISTS subquery on r's join table: the caller's user id is
in its `other` column for this row, and each `where` column holds one of the listed values.
When the relation declares `invite`, only accepted links count (its status field is `active`
unless the rule's `where` names it): a pending invitation grants nothing.
`read` governs list and read, `write` update and delete; a declared list replaces the default
owner-only rule for those actions, admins bypass both. The access plugin (engine.features.access.plugin)
returns these predicates from its `access_predicates` hook, so disabling it disables both. Nothing
is checked row by row in Python: the predicate joins the WHERE clause of every statement,
embeddings and nested routes included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from engine.kernel.identity import Identity
from engine.spec import Relation, Resource
from engine.spec.model import ACCESS_MODES, ACTIVE
from engine.sql.compiled import param
from engine.sql.ddl import column, ident, table
from engine.sql.queries import Predicate

USER_PARAM = "ra_user"


def _relation_exists(
    resource: Resource, relation: Relation, where: dict[str, Any], prefix: str, outer: str
) -> exp.Expression:
    """EXISTS (SELECT 1 FROM <through> AS j WHERE j.key = outer.pk AND j.other::text = $user AND j.col = ANY($v)).

    The cast lets user ids (text) match uuid or integer columns; on a text column it is a no-op
    for PostgreSQL, so the join table's (key, other) index still serves the lookup.
    """
    alias = f"_access_{relation.name}"
    conditions = [
        column(relation.key, alias).eq(column(resource.primary_key, outer)),
        exp.Cast(this=column(relation.other, alias), to=exp.DataType.build("text")).eq(param(USER_PARAM)),
    ]
    for name in where:
        conditions.append(column(name, alias).eq(exp.Any(this=exp.Paren(this=param(f"{prefix}_{name}")))))
    source = table(relation.through)
    source.set("alias", exp.TableAlias(this=ident(alias)))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(source).where(exp.and_(*conditions)))


def _rule(resource: Resource, rule: Any, index: int) -> tuple[Callable[[str], exp.Expression], dict[str, Any]]:
    """One rule as (build(outer_table) -> condition, the spec values it binds)."""
    if rule == "anyone":
        return (lambda outer: exp.true()), {}
    if rule == "owner":
        return (lambda outer: column(resource.owner, outer).eq(param(USER_PARAM))), {}
    relation = resource.relations[rule["relation"]]
    where = dict(rule.get("where") or {})
    if relation.invite is not None:  # a pending invitation grants nothing until it is accepted
        where.setdefault(relation.invite.status_field, [ACTIVE])
    prefix = f"ra{index}"
    values = {f"{prefix}_{name}": list(options) for name, options in where.items()}
    return (lambda outer: _relation_exists(resource, relation, where, prefix, outer)), values


def compile_rules(resource: Resource, mode: str, identity: Identity | None) -> Predicate:
    """The mode's rules as one predicate (OR of the rules); anonymous callers keep only `anyone`.

    Building the Predicate is cheap; its SQL is rendered once per shape by the query cache,
    keyed by `key`, never per request.
    """
    signed_in = identity is not None
    rules = [rule for rule in resource.access[mode] if signed_in or rule == "anyone"]
    parts = [_rule(resource, rule, i) for i, rule in enumerate(rules)]
    values: dict[str, Any] = {USER_PARAM: identity.user_id} if signed_in else {}
    for _, bound in parts:
        values.update(bound)

    def build(outer: str) -> exp.Expression:
        conditions = [make(outer) for make, _ in parts]
        if not conditions:
            return exp.false()
        return exp.Paren(this=exp.or_(*conditions)) if len(conditions) > 1 else conditions[0]

    return Predicate(("relation_access", mode, signed_in), build, values)


def governs(resource: Resource, action: str) -> bool:
    """Whether the resource's `access` block decides which rows `action` may touch."""
    return ACCESS_MODES.get(action) in resource.access


def access_block_predicate(resource: Resource, action: str, identity: Identity | None) -> Predicate | None:
    """The predicate for an action the `access` block governs; admins get none (they see every row)."""
    if identity is not None and identity.is_admin:
        return None
    return compile_rules(resource, ACCESS_MODES[action], identity)
