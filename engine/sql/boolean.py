"""Boolean filter groups (`or=(...)`, `and=(...)`, `not=(...)`) as one access-style predicate.

A group is a tree of the list's ordinary `field[op]=value` filters. It becomes a `Predicate`, the
shape access rules already use: its key is the tree's shape (fields, operators, `is` values,
nesting), its parameters the leaf values (`b0`, `b1`, ... in reading order), so the statement is
still built once per shape and every value is bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from sqlglot import exp

from engine.sql.ddl import column
from engine.sql.queries import Filter, Predicate, _condition

PARAM_PREFIX = "b"


@dataclass(frozen=True)
class BoolGroup:
    """`or`, `and` or `not` (NOT of the AND of its terms) over filters and nested groups."""

    op: str
    terms: tuple[Term, ...]


Term = Union[Filter, BoolGroup]  # noqa: UP007 (a runtime alias, evaluated before BoolGroup exists)


def leaves(groups: tuple[BoolGroup, ...]) -> list[Filter]:
    """Every filter of the groups, in reading order (the order of their parameters)."""
    found: list[Filter] = []

    def walk(term: Term) -> None:
        if isinstance(term, Filter):
            found.append(term)
        else:
            for inner in term.terms:
                walk(inner)

    for group in groups:
        walk(group)
    return found


def _shape(term: Term) -> Any:
    if isinstance(term, Filter):
        return term.shape
    return (term.op, tuple(_shape(t) for t in term.terms))


def _build(term: Term, t: str, counter: list[int]) -> exp.Expression:
    if isinstance(term, Filter):
        index = counter[0]
        counter[0] += 1
        return _condition(column(term.field, t), term.op, f"{PARAM_PREFIX}{index}", term.shape[2])
    parts = [_build(inner, t, counter) for inner in term.terms]
    if term.op == "or":
        return exp.Paren(this=exp.or_(*parts)) if len(parts) > 1 else parts[0]
    joined = exp.Paren(this=exp.and_(*parts) if len(parts) > 1 else parts[0])
    if term.op == "not":  # NOT ... IS TRUE: a row where the terms are unknown (null) is kept, as `ne` keeps it
        return exp.Paren(this=exp.Not(this=exp.Is(this=joined, expression=exp.true())))
    return joined


def predicate(groups: tuple[BoolGroup, ...]) -> Predicate | None:
    """The groups as one predicate ANDed into the statement; None without groups."""
    if not groups:
        return None
    values = {f"{PARAM_PREFIX}{i}": f.value for i, f in enumerate(leaves(groups))}

    def build(t: str) -> exp.Expression:
        counter = [0]
        parts = [_build(group, t, counter) for group in groups]
        return exp.and_(*parts) if len(parts) > 1 else parts[0]

    return Predicate(("boolean_filters", tuple(_shape(g) for g in groups)), build, values)
