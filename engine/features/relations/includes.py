"""What `?include=` may name on a resource, resolved from the spec.

Two kinds: a many-to-many relation (`members`) embeds a list of join rows under its name; a
belongs-to reference (`user_id`, also spelled `user`) embeds the referenced row, or null when it
is absent or hidden from the caller, under the column name without its `_id` suffix (a column
without that suffix is replaced by the row it points at, like Stripe's `expand`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.kernel.errors import BadRequest
from engine.spec import Resource, Spec


@dataclass(frozen=True)
class Include:
    name: str  # the key under which the rows are embedded
    many: bool  # a list of join rows (True) or one referenced row (False)
    local: str  # the column of our rows whose values are looked up
    source: str  # the resource the embedded rows come from
    remote: str  # its column matched with `= ANY($1)`
    action: str  # the access action whose predicates filter the embedded rows


def includes_of(spec: Spec, resource: Resource) -> dict[str, Include]:
    """Every name `include` accepts for `resource`, mapped to how to embed it."""
    found: dict[str, Include] = {}
    for column, reference in resource.references.items():
        target = spec.resources[reference.resource]
        embedded = column.removesuffix("_id")
        include = Include(embedded, False, column, target.name, target.primary_key, "read")
        found[column] = found[embedded] = include
    for relation in resource.relations.values():
        found[relation.name] = Include(
            relation.name, True, resource.primary_key, relation.through, relation.key, "list"
        )
    return found


def resolve(known: Mapping[str, Include], names: tuple[str, ...] | list[str]) -> tuple[Include, ...]:
    """The includes asked for, in order and without repeats; an unknown name is a 400 listing the known."""
    chosen: dict[str, Include] = {}
    for name in names:
        include = known.get(name)
        if include is None:
            options = ", ".join(sorted(known)) or "none on this resource"
            raise BadRequest(f"unknown relation {name[:100]!r} in 'include'; known: {options}", parameter="include")
        chosen.setdefault(include.name, include)
    return tuple(chosen.values())
