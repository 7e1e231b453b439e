"""A resource's declared moves, as the 409 a refused move answers and as a SQL condition.

    transitions:
      status:
        draft: [active, archived]
        active: [paused, archived]
        paused: [active, archived]
        archived: []          # final

Keeping a value is always allowed; a create starts anywhere the schema allows. The spec loader
has checked that every target is a listed state, that a field with an `enum` lists each of its
values, and that the field is a required string (engine.spec.loader).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from engine.kernel.errors import Conflict
from engine.sql.ddl import column

Moves = Mapping[str, Mapping[str, tuple[str, ...]]]  # field -> state -> the states it may move to


def described(moves: Moves) -> str:
    """The moves in a sentence for people and agents: `status changes only by these moves: draft ->
    active, archived; archived -> nothing (final)` (OpenAPI descriptions, MCP tool descriptions)."""
    parts = []
    for name, states in moves.items():
        listed = "; ".join(f"{s} -> {', '.join(t) if t else 'nothing (final)'}" for s, t in states.items())
        parts.append(f"{name} changes only by these moves (keeping it is allowed, any other is a 409): {listed}.")
    return " ".join(parts)


def refused(resource: str, moves: Moves, data: Mapping[str, Any], previous: Mapping[str, Any]) -> Conflict | None:
    """The 409 for the first field of `data` whose change from `previous` is not a declared move."""
    for name, states in moves.items():
        if name not in data:
            continue
        current, wanted = previous.get(name), data[name]
        allowed = states.get(current, ())
        if wanted == current or wanted in allowed:
            continue
        options = ", ".join(allowed) if allowed else f"nothing: {current} is final"
        return Conflict(
            f"{resource}: {name} cannot move from {current} to {wanted}; from {current} it may move to {options}",
            **{f"current_{name}": current, f"requested_{name}": wanted, "allowed_moves": list(allowed)},
        )
    return None


def condition(moves: Moves, previous: str, new: Mapping[str, exp.Expression]) -> exp.Expression | None:
    """The moves as a condition on the row as it was (the table `previous`) and the values an update
    sets (`new`): ``status = new OR (status = 'draft' AND new IN ('active', 'archived')) OR ...``
    for each declared field the update sets; None when it sets none."""
    parts = []
    for name, states in moves.items():
        wanted = new.get(name)
        if wanted is None:
            continue
        current = column(name, previous)
        allowed = [
            exp.and_(
                current.copy().eq(exp.Literal.string(start)),
                wanted.copy().isin(*[exp.Literal.string(target) for target in targets]),
            )
            for start, targets in states.items()
            if targets
        ]
        parts.append(exp.Paren(this=exp.or_(current.eq(wanted.copy()), *allowed)))
    return exp.and_(*parts) if parts else None
