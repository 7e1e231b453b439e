"""The names of the MCP tools a spec gets, known without the MCP SDK (which loads on the first
`/mcp` request): so that two tools with one name are a start-up error, not a failing first request.

`<resource>_<verb>` for each resource and action; `<resource>_<relation>_<verb>` for each nested
route of a relation; `my_invitations` and `me`. A resource named `teams_members` beside a relation
`members` of `teams` would give two tools the name `teams_members_list`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from engine.features.relations.nested import NestedHandlers
from engine.kernel.errors import ConfigurationError
from engine.spec import ACTIONS, Spec

VERBS = {"list": "list", "read": "get", "create": "create", "update": "update", "delete": "delete"}
RELATION_VERBS = ("list", "get", "add", "update", "remove")
INVITEE_VERBS = ("accept", "decline")  # a relation with `invite`: the invitee answers


def relation_verbs(nested: NestedHandlers) -> tuple[str, ...]:
    """The verbs of a relation's tools: one per nested route it has (PATCH only with fields of its own)."""
    verbs = tuple(v for v in RELATION_VERBS if v != "update" or nested.editable_fields())
    return verbs + (INVITEE_VERBS if nested.relation.invite is not None else ())


def nested_of(spec: Spec) -> Iterator[NestedHandlers]:
    for parent in spec.resources.values():
        for relation in parent.relations.values():
            yield NestedHandlers(parent, relation, spec.resources[relation.through])


def tool_names(spec: Spec) -> Iterator[str]:
    """Every resource and relation tool name, in catalog order (`me` and `my_invitations` cannot clash)."""
    for resource in spec.resources.values():
        yield from (f"{resource.name}_{VERBS[action]}" for action in ACTIONS)
    for nested in nested_of(spec):
        yield from (f"{nested.parent.name}_{nested.relation.name}_{verb}" for verb in relation_verbs(nested))


def check_unique(spec: Spec) -> None:
    """Refuse a spec that would give two tools one name."""
    twice = sorted(name for name, count in Counter(tool_names(spec)).items() if count > 1)
    if twice:
        raise ConfigurationError(
            f"two MCP tools would be named {twice[0]!r} (a resource's and a relation's): rename the "
            "resource or the relation, or disable the mcp plugin"
        )
