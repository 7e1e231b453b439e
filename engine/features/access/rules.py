"""The `access` block of resources.yaml (resolved by engine.spec.access) compiled into SQL predicates.

A list of rules is an OR; each mapping rule an AND of its row conditions and its path. A path is
one subquery per step, each joined to the row of the step before on an indexed column, the
innermost comparing its caller column with the caller's id; the first is an uncorrelated array
(see _hop), the others nested EXISTS. `[team_agents.agent_id, teams, members]` with
`where: {members: {status: active}}` becomes (the teams hop asks nothing, so it is passed through):

    agents.id = ANY(ARRAY(SELECT _r1_s0.agent_id FROM team_agents AS _r1_s0 WHERE
      EXISTS (SELECT 1 FROM team_members AS _r1_s2 WHERE _r1_s2.team_id = _r1_s0.team_id
        AND _r1_s2.status = $r1_s2_0 AND _r1_s2.user_id::text = $user)))

Every value (the caller's id, the listed values) is a bound parameter; the SQL text depends only
on the rules, so it is built once per shape. Nothing is checked row by row in Python: the
predicate joins the WHERE clause (row rules) or the select list (field rules, `CASE WHEN`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from engine.kernel.identity import Identity
from engine.kernel.interning import Interned
from engine.spec import Resource
from engine.spec.access import Condition, Rule, Step
from engine.sql.compiled import param
from engine.sql.ddl import column, ident, table
from engine.sql.queries import Link, Predicate

USER_PARAM = "ra_user"


def _as_text(col: exp.Expression) -> exp.Expression:
    """User ids are text; the cast lets them match uuid or integer columns (a no-op on text columns,
    so an index on the column still serves the lookup)."""
    return exp.Cast(this=col, to=exp.DataType.build("text"))


def _condition(condition: Condition, alias: str, name: str, values: dict[str, Any]) -> exp.Expression:
    col = column(condition.column, alias)
    if condition.caller:
        return _as_text(col).eq(param(USER_PARAM))
    values[name] = _bound(condition.values)
    if len(condition.values) == 1:  # `= $v`: a scalar binds without asyncpg's array checks
        return col.eq(param(name))
    return col.eq(exp.Any(this=exp.Paren(this=param(name))))


def _bound(values: tuple[Any, ...]) -> Any:
    """A condition's values as bound: the value itself when there is one (`column = $v`), else a
    list (`column = ANY($v)`)."""
    return values[0] if len(values) == 1 else list(values)


def _hop(
    steps: tuple[Step, ...],
    i: int,
    outer: str,
    prefix: str,
    end: str,
    values: dict[str, Any],
    joined: str = "",
    on_link: str = "",
) -> exp.Expression:
    """Step i and those after it, as a condition on the row before it.

    The first hop is `outer.col = ANY(ARRAY(SELECT ...))`: uncorrelated, so PostgreSQL computes the
    caller's set once per statement (an InitPlan, driven from the caller's id through indexes) and
    reaches the outer table through its own index, also when OR-ed with `owner` (a BitmapOr); a
    correlated EXISTS there would be tested row by row. Later hops are nested EXISTS, which the
    planner turns into index joins. `joined` names the previous row's column to join on when a
    pass-through hop was skipped. `on_link` (first hop only): the conditions of step 0 asked of that
    row of the statement instead of a subquery's rows (see `_link_shortcut`).
    """
    step = steps[i]
    outer_column = joined or step.outer_column
    if step.passes_through and i + 1 < len(steps):  # e.g. teams between team_agents and members
        return _hop(steps, i + 1, outer, prefix, end, values, outer_column)
    alias = on_link or f"_{prefix}_s{i}"
    first = i == 0 or (joined and all(s.passes_through for s in steps[:i]))
    conditions = [] if first else [column(step.column, alias).eq(column(outer_column, outer))]
    conditions += [_condition(c, alias, f"{prefix}_s{i}_{j}", values) for j, c in enumerate(step.where)]
    if step.alive is not None:  # a soft-deleted row on the path grants nothing
        conditions.append(exp.Is(this=column(step.alive, alias), expression=exp.Null()))
    if i + 1 < len(steps):
        conditions.append(_hop(steps, i + 1, alias, prefix, end, values))
    else:
        conditions.append(_as_text(column(end, alias)).eq(param(USER_PARAM)))
    if on_link:
        return exp.and_(*conditions)
    source = table(step.table)
    source.set("alias", exp.TableAlias(this=ident(alias)))
    if first:
        found = exp.select(column(step.column, alias)).from_(source).where(exp.and_(*conditions))
        return column(outer_column, outer).eq(exp.Any(this=exp.Paren(this=exp.Array(expressions=[found]))))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(source).where(exp.and_(*conditions)))


def _link_shortcut(rule: Rule, link: Link | None) -> bool:
    """Whether the rule's path starts at the link's own table, on the link's column: then the link
    row is one of the rows its first hop ranges over, and the path's conditions asked of that row
    imply the rule.

    Embedding a team's members, the users rule "a co-member: [team_members.user_id, teams, members]"
    becomes, for each link, "this link is active and its team (not deleted) has the caller as an
    active member" OR the rule as written. PostgreSQL evaluates the OR from the left and computes
    the rule's set of all the caller's co-members (an InitPlan) only for a link where that fails.
    """
    if link is None or not rule.steps:
        return False
    step = rule.steps[0]
    skipped = step.passes_through and len(rule.steps) > 1
    return not skipped and (step.table, step.column, step.outer_column) == (link.table, link.column, link.key)


def _rule(
    resource: Resource, rule: Rule, prefix: str, outer: str, values: dict[str, Any], link: Link | None = None
) -> exp.Expression:
    """One rule as a condition on the row `outer`; the values it binds go into `values`."""
    if rule.kind == "anyone":
        return exp.true()
    if rule.kind == "owner":
        return column(resource.owner, outer).eq(param(USER_PARAM))
    parts = [_condition(c, outer, f"{prefix}_w{j}", values) for j, c in enumerate(rule.where)]
    if rule.steps:
        hop = _hop(rule.steps, 0, outer, prefix, rule.end or "", values)
        if _link_shortcut(rule, link):
            shortcut = _hop(rule.steps, 0, outer, prefix, rule.end or "", values, on_link=link.alias)
            hop = exp.Paren(this=exp.or_(shortcut, hop))
        parts.append(hop)
    return exp.and_(*parts) if parts else exp.true()


@functools.lru_cache(maxsize=1024)
def spec_values(rules: tuple[Rule, ...], prefix: str) -> tuple[tuple[str, Any], ...]:
    """The values the rules bind besides the caller's id, named as `_rule` names them: worked out once
    per rule list, so a request builds no SQL expression (tests/test_access_spec.py checks the names)."""
    found: list[tuple[str, Any]] = []
    for i, rule in enumerate(rules):
        found += [(f"{prefix}{i}_w{j}", _bound(c.values)) for j, c in enumerate(rule.where) if not c.caller]
        for s, step in enumerate(rule.steps):
            found += [(f"{prefix}{i}_s{s}_{j}", _bound(c.values)) for j, c in enumerate(step.where) if not c.caller]
    return tuple(found)


@dataclass(frozen=True)
class _Compiled:
    """What `compile_list` answers for one rule list, minus the caller's id: made once per list."""

    resource: Resource
    rules: tuple[Rule, ...]
    key: tuple
    build: Callable[..., exp.Expression]
    values: dict[str, Any]  # the spec's values (read-only: every request's predicate shares them)
    anyone: bool  # a rule grants every row (Predicate.holds_if)
    owner_grants: bool  # an `owner` rule: the caller's own rows satisfy the list
    owner_only: bool  # every rule is `owner`: only the caller's own rows do (Predicate.requires)


_COMPILED: dict[tuple, _Compiled] = {}
_COMPILED_LIMIT = 4096  # specs come and go (tests): forget the old ones' rules


def compile_list(
    resource: Resource, rules: tuple[Rule, ...], key: tuple, prefix: str, identity: Identity | None
) -> Predicate:
    """A list of rules as one predicate (OR); anonymous callers keep only `anyone`.

    Only the caller's id changes from one request to the next: the rest (the rules kept, the spec's
    values, the builder) is made at the list's first use. Its SQL is rendered once per shape by the
    statement cache, keyed by `key`, never per request.
    """
    signed_in = identity is not None
    found = _COMPILED.get((id(resource), id(rules), key, prefix, signed_in))
    if found is None or found.resource is not resource or found.rules is not rules:
        found = _compile(resource, rules, key, prefix, signed_in)
    values, owned = found.values, ()
    if signed_in:
        user = identity.user_id
        values = {USER_PARAM: user, **values} if values else _per_caller(("values", user), {USER_PARAM: user})
        owned = _per_caller(("owned", resource.owner, user), ((resource.owner, user),)) if resource.owner else ()
    holds_if = () if found.anyone else owned if found.owner_grants and owned else None
    requires = owned if found.owner_only else ()
    return Predicate(found.key, found.build, values, through=found.build, holds_if=holds_if, requires=requires)


# The small values most of a caller's predicates repeat: their id as the only value bound, the pair
# (owner column, their id). A process keeps thousands of callers' access answers, about 14 predicates
# each in the example app: one object per caller instead of one per predicate (never changed: see
# ResourceManager._access_answer).
_per_caller = Interned(65_536)


def _compile(resource: Resource, rules: tuple[Rule, ...], key: tuple, prefix: str, signed_in: bool) -> _Compiled:
    kept = tuple(rule for rule in rules if signed_in or rule.kind == "anyone")

    def build(outer: str, link: Link | None = None) -> exp.Expression:
        conditions = [_rule(resource, rule, f"{prefix}{i}", outer, {}, link) for i, rule in enumerate(kept)]
        if not conditions:
            return exp.false()
        return exp.Paren(this=exp.or_(*conditions)) if len(conditions) > 1 else conditions[0]

    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.clear()
    found = _COMPILED[(id(resource), id(rules), key, prefix, signed_in)] = _Compiled(
        resource,
        rules,
        (*key, signed_in),
        build,
        dict(spec_values(kept, prefix)),
        anyone=any(rule.kind == "anyone" for rule in kept),
        owner_grants=any(rule.kind == "owner" for rule in kept),
        owner_only=bool(kept) and all(rule.kind == "owner" for rule in kept),
    )
    return found


def compile_rules(resource: Resource, mode: str, identity: Identity | None) -> Predicate:
    """The rules of one access mode (read, update, delete, attach, write) as one predicate."""
    return compile_list(resource, resource.access[mode], ("relation_access", mode), "r", identity)


def governs(resource: Resource, action: str) -> bool:
    """Whether the resource's `access` block decides which rows `action` may touch."""
    return resource.access_mode(action) is not None


def access_block_predicate(resource: Resource, action: str, identity: Identity | None) -> Predicate | None:
    """The predicate for an action the `access` block governs; admins get none (they see every row)."""
    if identity is not None and identity.is_admin:
        return None
    mode = resource.access_mode(action)
    return None if mode is None else compile_rules(resource, mode, identity)


def field_predicates(resource: Resource, mode: str, identity: Identity | None) -> dict[str, Predicate]:
    """Field name -> where the caller may `mode` (read or write) it; empty for admins."""
    if identity is not None and identity.is_admin:
        return {}
    found = {}
    for i, (name, modes) in enumerate(resource.field_access.items()):
        if mode in modes:
            found[name] = compile_list(resource, modes[mode], ("field_access", name, mode), f"fa{i}_", identity)
    return found
