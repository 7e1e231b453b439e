"""The `access` block of a resource, resolved against the spec into rules the SQL layer compiles.

    access:
      read:   [owner, {path: [team_agents.agent_id, teams, members], where: {members: {status: active}}}]
      update: [owner]
      fields: {system_prompt: {read: [owner]}}

A list holds alternatives (OR); a mapping rule holds parts that must all hold (AND):
- `owner`: the row's owner field is the caller; `anyone`: every row (anonymous callers too).
- `path: [step, ...]`: from the row, follow steps to rows that end at the caller. A step is
  a relation of the current resource (its join rows), a reference column of it or the resource
  that column references (the referenced row), or `resource.column` (rows of that resource whose
  column holds the current row's primary key). The last step ends at the caller: a relation's
  `other` column, or else the reached resource's owner field, is the caller's id.
- `where: {column: value(s)}` on the row itself; `where: {step: {column: value(s)}}` on the rows
  a path passes through. `$user` as a value is the caller's id.
- `{relation: r, where: {column: [...]}}`: the one-hop form of earlier versions (= `path: [r]`
  with the conditions on the join rows).

Resolving happens once at load time, so an unknown step or column, or a step whose join column
no index leads, is a configuration error with file:line:col.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from engine.spec.model import ACTIVE, Resource
from engine.spec.positions import Path

CALLER = "$user"  # a `where` value meaning the caller's user id
MODES = ("read", "update", "delete", "attach", "write")


@dataclass(frozen=True)
class Condition:
    """`column = ANY(values)`, or `column = caller` when `caller` is set."""

    column: str
    values: tuple[Any, ...] = ()
    caller: bool = False


@dataclass(frozen=True)
class Step:
    """One hop: rows of `resource` whose `column` equals the previous row's `outer_column`."""

    text: str
    resource: str
    table: str
    column: str
    outer_column: str
    where: tuple[Condition, ...] = ()
    follows_reference: bool = False  # to the row a foreign key points at: its key is already known
    alive: str | None = None  # `soft_delete`: the column that must be null (a deleted row grants nothing)

    @property
    def passes_through(self) -> bool:
        """A hop the SQL may skip: the referenced row exists (a foreign key), nothing is asked of it,
        and the next step can join on the reference column itself (see access.rules)."""
        return self.follows_reference and not self.where and self.alive is None


@dataclass(frozen=True)
class Rule:
    """`anyone`, `owner`, or a mapping rule: row conditions AND (when `steps`) a path to the caller."""

    kind: str  # anyone | owner | match
    where: tuple[Condition, ...] = ()
    steps: tuple[Step, ...] = ()
    end: str | None = None  # column of the last step's rows that must be the caller


Problems = list[tuple[Path, str]]


def leading_columns(resource: Resource) -> set[str]:
    """Columns some index starts with: the primary key, unique and declared indexes, and every
    reference column (the DDL indexes those it finds unindexed, see engine.migrations.model)."""
    found = {resource.primary_key, *resource.references}
    found |= {cols[0] for cols in resource.unique} | {index[0].name for index in resource.indexes}
    return found


def resolve_rules(
    resources: dict[str, Resource], resource: Resource, raw: list, where: Path, problems: Problems
) -> tuple[Rule, ...]:
    """The rules of one list; each problem is reported under its own path."""
    rules = []
    for i, item in enumerate(raw):
        rule = _rule(resources, resource, item, (*where, i), problems)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(resources: dict[str, Resource], resource: Resource, raw: Any, where: Path, problems: Problems) -> Rule | None:
    if raw == "anyone":
        return Rule("anyone")
    if raw == "owner":
        if resource.owner is None:
            problems.append((where, "'owner' needs an owner field on this resource"))
            return None
        return Rule("owner")
    if "relation" in raw:
        return _relation_rule(resources, resource, raw, where, problems)
    conditions = raw.get("where") or {}
    steps, end = _steps(resources, resource, raw.get("path") or [], conditions, where, problems)
    own = {k: v for k, v in conditions.items() if not isinstance(v, dict)}
    row = _conditions(resource, own, (*where, "where"), problems)
    if steps is None or row is None:
        return None
    return Rule("match", row, steps, end)


def _relation_rule(
    resources: dict[str, Resource], resource: Resource, raw: dict, where: Path, problems: Problems
) -> Rule | None:
    relation = resource.relations.get(raw["relation"])
    if relation is None:
        problems.append(((*where, "relation"), f"unknown relation {raw['relation']!r}; declare it under relations"))
        return None
    through = resources[relation.through]
    conditions = _conditions(through, raw.get("where") or {}, (*where, "where"), problems)
    if conditions is None:
        return None
    conditions = conditions + _active_only(resources, through, conditions)
    step = Step(
        relation.name,
        through.name,
        through.table,
        relation.key,
        resource.primary_key,
        conditions,
        alive=_alive(through),
    )
    return Rule("match", (), (step,), relation.other)


def _active_only(
    resources: dict[str, Resource], rows: Resource, conditions: tuple[Condition, ...]
) -> tuple[Condition, ...]:
    """A hop onto the join rows of a relation that declares `invite` counts accepted links only (its
    status field `active`), unless the rule itself says which statuses count: a pending invitation
    grants nothing."""
    for other in resources.values():
        for relation in other.relations.values():
            status = relation.invite.status_field if relation.invite is not None else None
            if relation.through == rows.name and status and all(c.column != status for c in conditions):
                return (Condition(status, (ACTIVE,)),)
    return ()


def _conditions(resource: Resource, raw: dict, where: Path, problems: Problems) -> tuple[Condition, ...] | None:
    found, ok = [], True
    for name, value in raw.items():
        field = resource.fields.get(name)
        if field is not None and field.write_only:
            problems.append(((*where, name), f"writeOnly field {name!r} cannot be matched on: its value is encrypted"))
            ok = False
            continue
        if field is None or field.sql_type == "jsonb":
            problems.append(((*where, name), f"{name!r} is not a column of {resource.name} to match on"))
            ok = False
            continue
        values = tuple(value) if isinstance(value, list) else (value,)
        wrong = [v for v in values if v != CALLER and not _fits(field, v)]
        if wrong:
            problems.append(((*where, name), f"{wrong[0]!r} cannot be a value of {resource.name}.{name}"))
            ok = False
            continue
        if CALLER in values:
            if len(values) > 1:
                problems.append(((*where, name), f"{CALLER!r} stands alone: it is the caller's id"))
                ok = False
            found.append(Condition(name, caller=True))
        else:
            found.append(Condition(name, values))
    return tuple(found) if ok else None


def _fits(field: Any, value: Any) -> bool:
    """Whether a `where` value can be bound against the column (a wrong one would fail in the database)."""
    if field.enum is not None:
        return value in field.enum
    if field.sql_type == "boolean":
        return isinstance(value, bool)
    if field.sql_type == "bigint":
        return isinstance(value, int) and not isinstance(value, bool)
    if field.sql_type == "double precision":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if field.sql_type == "uuid":
        return isinstance(value, str) and _is_uuid(value)
    return isinstance(value, str) and field.sql_type == "text"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _steps(
    resources: dict[str, Resource],
    resource: Resource,
    path: list[str],
    conditions: dict[str, Any],
    where: Path,
    problems: Problems,
) -> tuple[tuple[Step, ...] | None, str | None]:
    """Resolve each step from the resource reached so far; returns (steps, the caller column)."""
    steps: list[Step] = []
    current, end = resource, None
    for i, text in enumerate(path):
        at = (*where, "path", i)
        resolved = _step(resources, current, text)
        if isinstance(resolved, str):
            problems.append((at, resolved))
            return None, None
        step, reached, end = resolved
        target = resources[step.resource]
        if step.column not in leading_columns(target):
            problems.append((at, f"{target.name}.{step.column} has no index: add `indexes: [[{step.column}]]` there"))
        found = _conditions(target, conditions.get(text) or {}, (*where, "where", text), problems)
        if found is None:
            return None, None
        steps.append(replace(step, where=found + _active_only(resources, target, found)))
        current = reached
    for name, value in conditions.items():
        if isinstance(value, dict) and name not in path:
            problems.append(((*where, "where", name), f"{name!r} is not a step of this path"))
    if steps and end is None:
        if current.owner is None:
            problems.append(((*where, "path"), f"the path ends at {current.name}, which has no owner field to match"))
            return None, None
        end = current.owner
    if steps and end not in leading_columns(current):  # the caller's set is looked up from this column
        problems.append(
            (
                (*where, "path"),
                f"{current.name}.{end} (where the path meets the caller) has no index: add `indexes: [[{end}]]` there",
            )
        )
    return tuple(steps), end


def _step(resources: dict[str, Resource], current: Resource, text: str) -> tuple[Step, Resource, str | None] | str:
    """(step, the resource it reaches, the caller column if it ends here) or a problem message."""
    if "." in text:
        name, column = text.split(".", 1)
        other = resources.get(name)
        if other is None or column not in other.fields:
            return f"unknown step {text!r}: no resource {name!r} with a column {column!r}"
        if other.fields[column].sql_type != current.pk.sql_type:
            return f"{text} cannot hold a {current.name} primary key ({current.pk.sql_type})"
        return Step(text, other.name, other.table, column, current.primary_key, alive=_alive(other)), other, None
    if text in current.relations:
        relation = current.relations[text]
        through = resources[relation.through]
        step = Step(text, through.name, through.table, relation.key, current.primary_key, alive=_alive(through))
        return step, through, relation.other
    column = _reference_column(current, text)
    if column is None:
        known = sorted({*current.relations, *current.references})
        return f"unknown step {text!r} from {current.name}; known: {', '.join(known) or 'none'} (or resource.column)"
    target = resources.get(current.references[column].resource)
    if target is None:
        return f"step {text!r} reaches an unknown resource"
    return Step(text, target.name, target.table, target.primary_key, column, (), True, _alive(target)), target, None


def _alive(resource: Resource) -> str | None:
    """A soft-deleting resource's rows count on a path only while not deleted (features/soft_delete)."""
    return resource.soft_delete.column if resource.soft_delete is not None else None


def _reference_column(current: Resource, text: str) -> str | None:
    """`team_id` (a reference column) or `teams` (the resource exactly one reference points at)."""
    if text in current.references:
        return text
    columns = [c for c, ref in current.references.items() if ref.resource == text]
    return columns[0] if len(columns) == 1 else None


def describe(rules: tuple[Rule, ...]) -> str:
    """Rules in words, for OpenAPI descriptions and `explain`: alternatives joined by "; or "."""
    return "; or ".join(_describe(rule) for rule in rules) or "nobody but admins"


def _describe(rule: Rule) -> str:
    if rule.kind in ("anyone", "owner"):
        return {"anyone": "anyone", "owner": "the owner"}[rule.kind]
    said = (
        f"callers reached by {' -> '.join(step.text + _words(step.where) for step in rule.steps)}" if rule.steps else ""
    )
    if rule.where:
        said = f"{said or 'any caller'}, on rows with {_words(rule.where).strip(' ()')}"
    return said


def _words(conditions: tuple[Condition, ...]) -> str:
    said = [
        f"{c.column} the caller's id" if c.caller else f"{c.column} {' or '.join(map(str, c.values))}"
        for c in conditions
    ]
    return f" ({', '.join(said)})" if said else ""
