"""`distribute_by`: a sharding plan for Citus, checked against the spec (docs/scaling.md).

The engine does not shard anything itself; a team declares how each table would be distributed,
and `resource-engine check` (every spec load) tells whether Citus could enforce the spec's keys and
references in that layout:

- the distribution column is a property of the resource;
- every `unique` key includes it (Citus enforces uniqueness within a shard only). The primary key
  is exempt: the engine would declare ``PRIMARY KEY (pk, column)``, and its keys are generated
  globally unique (uuid, or a sequence Citus hands out in ranges);
- a reference between two distributed tables joins their distribution columns (the referencing
  column is its table's distribution column, the referenced table is distributed by its primary
  key): the tables are co-located, so the foreign key, a cascade and a join stay on one shard;
- a reference table (`distribute_by: reference`) references only reference tables, and a table
  with no plan is referenced by, or references, no distributed table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.spec.model import Resource

REFERENCE = "reference"

Report = Callable[..., Any]  # errors.add(path, message)


def kind(resource: Resource) -> str:
    """`distributed`, `reference` or `local` (no plan)."""
    if resource.distribute_by is None:
        return "local"
    return REFERENCE if resource.distribute_by == REFERENCE else "distributed"


def check_distribution(resources: dict[str, Resource], report: Report) -> None:
    """Report every way the declared layout breaks a key or a reference of the spec."""
    if not any(r.distribute_by for r in resources.values()):
        return
    for name, resource in resources.items():
        where = ("resources", name)
        if kind(resource) == "distributed":
            if resource.distribute_by not in resource.fields:
                report(
                    (*where, "distribute_by"),
                    f"distribute_by {resource.distribute_by!r} is not a property of {resource.schema_path}",
                )
                continue
            _check_unique(resource, where, report)
        for column, reference in resource.references.items():
            target = resources.get(reference.resource)
            if target is not None:
                problem = _reference_problem(resource, column, target)
                if problem:
                    report((*where, "references", column), problem)


def _check_unique(resource: Resource, where: tuple, report: Report) -> None:
    column = resource.distribute_by
    for i, key in enumerate(resource.unique):
        if column not in key:
            report(
                (*where, "unique", i),
                f"unique key [{', '.join(key)}] does not include the distribution column {column!r}: Citus "
                f"enforces uniqueness within one shard only; add {column!r} to the key or distribute by one "
                "of its columns",
            )


def _reference_problem(source: Resource, column: str, target: Resource) -> str | None:
    source_kind, target_kind = kind(source), kind(target)
    ref = f"{source.name}.{column} references {target.name}"
    if target_kind == REFERENCE:
        return None if source_kind != "local" else f"{ref}, a reference table: give {source.name} a distribute_by too"
    if target_kind == "local":
        if source_kind == "local":
            return None
        return f"{ref}, which has no distribute_by: give it one (a reference table if it is small)"
    if source_kind == REFERENCE:
        return (
            f"{ref}, a distributed table: a reference table is copied to every node and cannot reference "
            f"rows that live on one; make {target.name} a reference table or distribute {source.name}"
        )
    if source_kind == "local":
        return f"{ref}, a distributed table: give {source.name} a distribute_by too"
    if source.distribute_by == column and target.distribute_by == target.primary_key:
        return None
    return (
        f"{ref}, but the two are not co-located: Citus enforces a reference between distributed tables "
        f"(and keeps its joins and cascades on one shard) only when it joins their distribution columns; "
        f"distribute {source.name} by {column!r} and {target.name} by {target.primary_key!r}, or make "
        f"{target.name} a reference table"
    )
