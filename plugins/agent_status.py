"""The example app's agent lifecycle, written on the engine's public write hooks.

    draft -> active <-> paused,   any -> archived,   archived is final

Any other change of `status` is a 409 problem that names the moves allowed from the current
status, so a client can show them. Creating an agent is not a move: it starts wherever the body
says (draft by default, from the JSON Schema). Keeping the status unchanged is always allowed.

The rule is checked where the update reads the stored row:
- an update that reads it first (an If-Match, another plugin needing it) gets it as `previous`
  in `before_write`, and the statement that follows applies only to that version of the row, so
  two concurrent moves cannot both pass from the same status;
- an update of one statement (the engine's default, hookspecs.write_needs_previous) carries the
  rule as a SQL condition on the row as it was (`StatusGuard`, via `fold_into_write`). When the
  condition fails the statement changes nothing, and the engine runs the update again reading
  the row first: `before_write` then refuses with the 409 above. MOVES is the one source of both.

Disable the rule with `plugins: {disabled: [agent_status]}` in resources.yaml.
"""

from __future__ import annotations

from sqlglot import exp

from engine.plugin import Conflict, column, hookimpl

AGENTS = "agents"
STATUS = "status"
MOVES = {
    "draft": ("active", "archived"),
    "active": ("paused", "archived"),
    "paused": ("active", "archived"),
    "archived": (),
}


class StatusGuard:
    """The rule as a condition on the row as it was, for an update that reads it in its statement."""

    def ctes(self, written: str, previous: str | None = None) -> list:
        return []  # no rows of its own: only the guard

    def values(self, identity, previous) -> dict:
        return {}

    def guard(self, previous: str, new: dict[str, exp.Expression]) -> exp.Expression | None:
        """``status = new OR (status = 'draft' AND new IN ('active', 'archived')) OR ...``."""
        wanted = new.get(STATUS)
        if wanted is None:
            return None
        current = column(STATUS, previous)
        allowed = [
            exp.and_(
                current.copy().eq(exp.Literal.string(start)),
                wanted.copy().isin(*[exp.Literal.string(m) for m in moves]),
            )
            for start, moves in MOVES.items()
            if moves
        ]
        return exp.or_(current.eq(wanted.copy()), *allowed)


@hookimpl
def write_needs_previous() -> bool:
    """Never: an update of one statement checks the rule in SQL (StatusGuard)."""
    return False


@hookimpl
def fold_into_write(resource, action) -> StatusGuard | None:
    return StatusGuard() if resource.name == AGENTS and action == "update" else None


@hookimpl
def before_write(resource, action, data, previous) -> None:
    """Refuse a status change that is not one of MOVES (409 naming the allowed ones). Without
    `previous` the update is one statement, and StatusGuard holds the rule there."""
    if resource.name != AGENTS or action != "update" or STATUS not in data or previous is None:
        return
    current, wanted = previous[STATUS], data[STATUS]
    allowed = MOVES.get(current, ())
    if wanted == current or wanted in allowed:
        return
    options = ", ".join(allowed) if allowed else f"nothing: {current} is final"
    raise Conflict(
        f"an agent cannot move from {current} to {wanted}; from {current} it may move to {options}",
        current_status=current,
        requested_status=wanted,
        allowed_moves=list(allowed),
    )
