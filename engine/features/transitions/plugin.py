"""Built-in transitions: a field declared under `transitions:` changes only by a listed move.

Checked where the update reads the stored row, on the public write hooks (the same a project
plugin would use; docs/plugins.md shows this one as the model):
- an update of one statement (the default: nothing needs the stored row first) carries the moves
  as a condition on the row as it was (`Guard`, through `fold_into_write`). When it fails, the
  statement changes nothing and the engine runs the update again reading the row first;
- an update that reads the row first (an If-Match, another plugin needing it) gets it as
  `previous` in `before_write`, which refuses a move not declared with a 409 naming the allowed
  ones; the statement that follows changes only that version of the row, so two concurrent moves
  cannot both pass from the same state.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from engine.features.openapi.schemas import component_name
from engine.features.transitions.rules import Moves, condition, described, refused
from engine.kernel.hooks import hookimpl
from engine.spec import Resource, Spec


class Guard:
    """The moves as a condition on the row as it was, for an update that reads it in its statement."""

    def __init__(self, moves: Moves):
        self.moves = moves

    def ctes(self, written: str, previous: str | None = None) -> list:
        return []  # no rows of its own: only the guard

    def values(self, identity: Any, previous: Any) -> dict:
        return {}

    def guard(self, previous: str, new: dict[str, exp.Expression]) -> exp.Expression | None:
        return condition(self.moves, previous, new)


@hookimpl(trylast=True)
def write_needs_previous() -> bool:
    """Never: an update of one statement checks the moves in SQL (Guard)."""
    return False


@hookimpl(trylast=True)
def fold_into_write(resource: Resource, action: str) -> Guard | None:
    return Guard(resource.transitions) if resource.transitions and action == "update" else None


@hookimpl(trylast=True)
def before_write(resource: Resource, action: str, data: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
    """A move not declared is a 409. Without `previous` the update is one statement, and Guard
    holds the moves there."""
    if not resource.transitions or action != "update" or data is None or previous is None:
        return
    problem = refused(resource.name, resource.transitions, data, previous)
    if problem is not None:
        raise problem


@hookimpl(trylast=True)
def register_openapi(document: dict, spec: Spec) -> None:
    """Each declared field of a PATCH body names its moves (`x-transitions`, and in its description)."""
    schemas = document.get("components", {}).get("schemas", {})
    for resource in spec.resources.values():
        body = schemas.get(f"{component_name(resource)}Update", {}).get("properties", {})
        for name, states in resource.transitions.items():
            prop = body.get(name)
            if prop is None:
                continue
            note = described({name: states})
            prop["description"] = f"{prop['description']} {note}" if prop.get("description") else note
            prop["x-transitions"] = {state: list(targets) for state, targets in states.items()}
