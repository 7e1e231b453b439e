"""The example app's agent lifecycle, written on the engine's public `before_write` hook.

    draft -> active <-> paused,   any -> archived,   archived is final

Any other change of `status` is a 409 problem that names the moves allowed from the current
status, so a client can show them. Creating an agent is not a move: it starts wherever the body
says (draft by default, from the JSON Schema). Keeping the status unchanged is always allowed.

`before_write` runs inside the update's transaction after validation, with `previous` the row as
stored (locked FOR UPDATE), so two concurrent moves cannot both pass from the same status.
Disable the rule with `plugins: {disabled: [agent_status]}` in resources.yaml.
"""

from __future__ import annotations

from engine.plugin import Conflict, hookimpl

AGENTS = "agents"
STATUS = "status"
MOVES = {
    "draft": ("active", "archived"),
    "active": ("paused", "archived"),
    "paused": ("active", "archived"),
    "archived": (),
}


@hookimpl
def write_needs_previous(resource, data) -> bool:
    """The stored status, when a patch sets one: every other update needs no read before it."""
    return resource.name == AGENTS and STATUS in data


@hookimpl
def before_write(resource, action, data, previous) -> None:
    """Refuse a status change that is not one of MOVES (409 naming the allowed ones)."""
    if resource.name != AGENTS or action != "update" or STATUS not in data:
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
