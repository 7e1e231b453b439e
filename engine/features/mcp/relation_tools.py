"""The MCP tools of the nested relation routes: `teams_members_list` is `GET /api/teams/{id}/members`.

Per declared relation (`members: {through: team_members, ...}` on teams): `_list`, `_get`, `_add`
(POST), `_update` (PATCH, only when the join resource has fields of its own, as the route exists
only then) and `_remove` (DELETE); with `invite`, the invitee's `_accept` and `_decline`, and
`my_invitations` (`GET /api/me/invitations`). A caller sees the read tools when their roles allow `read` on the
parent and the write tools when they allow `update` on it (and, for `_add` under `attach: read` or
`attach: update`, that action on the far side too): the checks the nested routes make first. The
invitee's tools need a sign-in, `read` on the parent and scopes that may write it, as their routes. Rows
and refusals are the routes' own, as for every tool (dispatch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import mcp_types as types

from engine.features.mcp.names import INVITEE_VERBS, nested_of, relation_verbs
from engine.features.mcp.tools import (
    _ANNOTATIONS,
    _JSON_TYPES,
    Ask,
    Call,
    _body,
    _body_schema,
    _id,
    _id_schema,
    _list_query,
    _names_query,
    _object,
    _projection,
    _with_query,
    known_arguments,
)
from engine.features.openapi.schemas import create_schema, update_schema
from engine.features.relations.nested import NestedHandlers
from engine.kernel.errors import BadRequest
from engine.kernel.identity import Identity
from engine.spec import Relation, Resource, Spec

_ANNOTATION_OF = {
    "list": "list",
    "get": "read",
    "add": "create",
    "update": "update",
    "remove": "delete",
    "accept": "create",
    "decline": "delete",
}


@dataclass(frozen=True)
class RelationTool:
    name: str
    parent: Resource
    relation: Relation
    through: Resource  # the join resource (`team_members`): the rows listed, added and removed
    target: Resource  # the far side (`users` for members)
    verb: str
    other: str  # the argument naming the far-side row (the route's path parameter)
    tool: types.Tool

    async def allowed(self, ask: Ask, identity: Identity | None) -> bool:
        if self.verb in ("list", "get"):
            return await ask(self.parent, "read")
        if self.verb in INVITEE_VERBS:  # signed in, reading the parent, with scopes to write it
            return (
                identity is not None and identity.permits(self.parent.name, "update") and await ask(self.parent, "read")
            )
        if not await ask(self.parent, "update"):
            return False
        return self.verb != "add" or self.relation.attach == "any" or await ask(self.target, self.relation.attach)

    def done(self, arguments: Mapping[str, Any] | None, status: int) -> str:
        arguments = arguments or {}
        where = f"the {self.relation.name} of {self.parent.name} {arguments.get('id')}"
        if self.verb == "decline":
            return f"the invitation to {where} declined ({status})"
        return f"{arguments.get(self.other)} removed from {where} ({status})"

    def call(self, arguments: Mapping[str, Any] | None) -> Call:
        """The nested route's request for these arguments; a BadRequest when their shape is wrong."""
        arguments = known_arguments(self.name, self.tool, arguments)
        base = f"/api/{self.parent.name}/{_id(self.name, arguments)}/{self.relation.name}"
        if self.verb == "list":
            return Call("GET", _with_query(base, _list_query(self.through, arguments)))
        if self.verb == "add":
            return Call("POST", base, _body(self.name, arguments))
        item = f"{base}/{self._other(arguments)}"
        if self.verb == "get":
            return Call("GET", _with_query(item, _names_query(arguments, ("fields", "include"))))
        if self.verb == "update":
            return Call("PATCH", item, _body(self.name, arguments))
        if self.verb in INVITEE_VERBS:
            return Call("POST", f"{item}/{self.verb}")
        return Call("DELETE", item)

    def _other(self, arguments: dict[str, Any]) -> str:
        value = arguments.get(self.other)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise BadRequest(f"{self.name} needs {self.other!r}: the id of the {self.target.name} row")
        return quote(str(value), safe="")


def relation_tools(spec: Spec, list_input: Callable[[Resource], dict[str, Any]]) -> Iterator[RelationTool]:
    """Every relation tool of the spec, parent by parent, in declaration order (names.py names them)."""
    for nested in nested_of(spec):
        target = spec.resources[nested.relation.target]
        for verb in relation_verbs(nested):
            tool = _tool(nested, verb, list_input)
            yield RelationTool(
                tool.name, nested.parent, nested.relation, nested.through, target, verb, nested.other_param, tool
            )


def _tool(nested: NestedHandlers, verb: str, list_input: Callable[[Resource], dict[str, Any]]) -> types.Tool:
    parent, relation, through = nested.parent, nested.relation, nested.through
    parent_id = {
        **_id_schema(parent),
        "description": f"The primary key ({parent.primary_key}) of the {parent.name} row.",
    }
    shown = _JSON_TYPES.get(through.fields[relation.other].sql_type) or {"type": "string"}
    other = {**shown, "description": f"The {relation.other} of the link: the id of the {relation.target} row."}
    if verb == "list":
        listing = list_input(through)
        schema = _object({"id": parent_id, **listing["properties"]}, ["id"])
    elif verb == "get":
        schema = _object(
            {"id": parent_id, nested.other_param: other, **_projection(through)}, ["id", nested.other_param]
        )
    elif verb == "add":
        data = _without(create_schema(through), nested.set_elsewhere())
        schema = _object({"id": parent_id, "data": _body_schema(through, data)}, ["id", "data"])
    elif verb == "update":
        data = _only(update_schema(through), nested.editable_fields())
        schema = _object(
            {"id": parent_id, nested.other_param: other, "data": _body_schema(through, data)},
            [
                "id",
                nested.other_param,
                "data",
            ],
        )
    elif verb in INVITEE_VERBS:
        yours = {**other, "description": f"Your own {relation.other} (you answer only your invitations)."}
        schema = _object({"id": parent_id, nested.other_param: yours}, ["id", nested.other_param])
    else:
        schema = _object({"id": parent_id, nested.other_param: other}, ["id", nested.other_param])
    title = _TITLES[verb].format(relation=relation.name, parent=parent.name)
    about = [str(through.schema[key]).rstrip(". ") for key in ("title", "description") if through.schema.get(key)]
    lead = f"{title}" + (f" ({': '.join(about)})" if about else "") + "."
    route = _ROUTES[verb].format(parent=parent.name, relation=relation.name, other=nested.other_param)
    return types.Tool(
        name=f"{parent.name}_{relation.name}_{verb}",
        title=title,
        description=f"{lead} Runs {route} and answers as it does. Errors are RFC 9457 problems, as the REST API's.",
        input_schema=schema,
        annotations=_ANNOTATIONS[_ANNOTATION_OF[verb]],
    )


_TITLES = {
    "list": "List the {relation} of one of {parent}",
    "get": "Get one of the {relation} of one of {parent}",
    "add": "Add to the {relation} of one of {parent}",
    "update": "Change one of the {relation} of one of {parent}",
    "remove": "Remove one of the {relation} of one of {parent}",
    "accept": "Accept your invitation to the {relation} of one of {parent}",
    "decline": "Decline your invitation to the {relation} of one of {parent}",
}
_ROUTES = {
    "list": "GET /api/{parent}/{{id}}/{relation} (filter, sort, limit and cursor as for lists)",
    "get": "GET /api/{parent}/{{id}}/{relation}/{{{other}}}",
    "add": "POST /api/{parent}/{{id}}/{relation} with data as its body",
    "update": "PATCH /api/{parent}/{{id}}/{relation}/{{{other}}} with data as its body (the link's own fields)",
    "remove": "DELETE /api/{parent}/{{id}}/{relation}/{{{other}}}",
    "accept": "POST /api/{parent}/{{id}}/{relation}/{{{other}}}/accept (pending -> active)",
    "decline": "POST /api/{parent}/{{id}}/{relation}/{{{other}}}/decline (the invitation is deleted)",
}


def _without(schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """`schema` without the properties the URL (or the invitee) sets."""
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in names}
    shown = {**schema, "properties": properties}
    required = [name for name in schema.get("required", ()) if name not in names]
    if required:
        shown["required"] = required
    else:
        shown.pop("required", None)
    return shown


def _only(schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return _without(schema, tuple(k for k in schema.get("properties", {}) if k not in names))


@dataclass(frozen=True)
class InvitationsTool:
    """`my_invitations`: the caller's pending invitations, as `GET /api/me/invitations` answers."""

    name: str = "my_invitations"
    tool: types.Tool = field(
        default_factory=lambda: types.Tool(
            name="my_invitations",
            title="My pending invitations",
            description=(
                'Your pending invitations, across every relation with invitations: answers {"data": [...]} as '
                "GET /api/me/invitations does; answer each with the relation's _accept or _decline tool. "
                "Errors are RFC 9457 problems, as the REST API's."
            ),
            input_schema=_object({}, []),
            annotations=_ANNOTATIONS["list"],
        )
    )

    async def allowed(self, ask: Ask, identity: Identity | None) -> bool:
        return identity is not None  # the route asks nothing more

    def call(self, arguments: Mapping[str, Any] | None) -> Call:
        known_arguments(self.name, self.tool, arguments)
        return Call("GET", "/api/me/invitations")

    def done(self, arguments: Mapping[str, Any] | None, status: int) -> str:
        return f"no content ({status})"
