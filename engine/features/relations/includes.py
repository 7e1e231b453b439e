"""What `?include=` may name on a resource, resolved from the spec.

Two kinds: a many-to-many relation (`members`) embeds a list of join rows under its name, each
carrying its far-side row (the member's user, the shared agent) under the `other` column's name
without `_id` (`user`, `agent`), or null when the caller may not read that row; a belongs-to
reference (`user_id`, also spelled `user`) embeds the referenced row, or null when it is absent
or hidden from the caller, under the column name without its `_id` suffix (a column without that
suffix is replaced by the row it points at, like Stripe's `expand`).

A path may go one level deeper, `agents.user`: the second name is an include of the rows the
first one embeds (the far rows of a relation, the referenced row of a reference). Each level is
one query for the whole page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.kernel.errors import BadRequest
from engine.spec import Relation, Resource, Spec


@dataclass(frozen=True)
class Include:
    name: str  # the key under which the rows are embedded
    many: bool  # a list of join rows (True) or one referenced row (False)
    local: str  # the column of our rows whose values are looked up
    source: str  # the resource the embedded rows come from
    remote: str  # its column matched with `= ANY($1)`
    action: str  # the access action whose predicates filter the embedded rows
    relation: Relation | None = None  # many-to-many: each join row carries its far-side row
    soft: bool = False  # a role that may not read `source` embeds null instead of answering 403

    @property
    def rows_of(self) -> str:
        """The resource of the rows a deeper include applies to (the far side of a relation)."""
        return self.relation.target if self.relation is not None else self.source


@dataclass(frozen=True)
class Path:
    """One requested include and what to embed one level deeper in the rows it brings."""

    include: Include
    deeper: tuple[Include, ...] = ()


def far_include(spec: Spec, relation: Relation, *, soft: bool = False) -> Include:
    """A join row's far-side row, embedded like a belongs-to reference of the join resource."""
    target = spec.resources[relation.target]
    return Include(relation.far_name, False, relation.other, target.name, target.primary_key, "read", soft=soft)


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
            relation.name, True, resource.primary_key, relation.through, relation.key, "list", relation
        )
    return found


def _unknown(name: str, known: Mapping[str, Include], where: str = "") -> BadRequest:
    options = ", ".join(sorted(known)) or "none on this resource"
    return BadRequest(f"unknown relation {name[:100]!r} in 'include'{where}; known: {options}", parameter="include")


def resolve(
    includes: Mapping[str, Mapping[str, Include]], resource: str, names: tuple[str, ...] | list[str]
) -> tuple[Path, ...]:
    """The include paths asked for, in order and merged by first name; 400 for an unknown name or a
    path deeper than two names. `includes` maps every resource to its include names."""
    known = includes[resource]
    heads: dict[str, Include] = {}
    tails: dict[str, dict[str, Include]] = {}
    for name in names:
        head, _, tail = name.partition(".")
        include = known.get(head)
        if include is None:
            raise _unknown(head, known)
        heads.setdefault(include.name, include)
        deeper = tails.setdefault(include.name, {})
        if tail:
            _add_deeper(includes, include, tail, deeper)
    return tuple(Path(include, tuple(tails[name].values())) for name, include in heads.items())


def _add_deeper(
    includes: Mapping[str, Mapping[str, Include]], include: Include, tail: str, deeper: dict[str, Include]
) -> None:
    if "." in tail:
        raise BadRequest("include paths go one level deep at most (e.g. agents.user)", parameter="include")
    relation = include.relation
    if relation is not None and tail in (relation.other, relation.far_name):
        return  # `members.user`: the far-side row every link already carries
    known = includes[include.rows_of]
    found = known.get(tail)
    if found is None:
        raise _unknown(tail, known, f" (after {include.name!r}, on {include.rows_of})")
    deeper.setdefault(found.name, found)
