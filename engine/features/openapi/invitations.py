"""OpenAPI for invitations (relations declaring `invite`): the 202 of the nested POST, the
invitee's accept/decline routes and `GET /api/me/invitations`. Paths come from the handlers that
serve them (engine.features.relations), so the document and the router cannot disagree."""

from __future__ import annotations

from typing import Any

from engine.features.openapi.parameters import id_parameter
from engine.features.openapi.paths import JSON, _envelope
from engine.features.openapi.problems import problems
from engine.features.openapi.schemas import component_name, create_schema, ref
from engine.features.relations.invitations import invited_relations
from engine.features.relations.nested import NestedHandlers
from engine.spec import Spec


def invitation_schema(handlers: NestedHandlers) -> dict[str, Any]:
    """The 202 body's data: the invitation as asked (no id, no timestamps, whatever the user id)."""
    schema = create_schema(handlers.through)
    schema.pop("required", None)
    return schema


def invited_response(handlers: NestedHandlers) -> dict[str, Any]:
    return {
        "202": {
            "description": "Invited: the same answer whether or not the id names a row you may see; a pending "
            "link is created only if it does, and grants nothing until the invitee accepts it.",
            "content": {JSON: {"schema": _envelope(invitation_schema(handlers))}},
        }
    }


def answer_paths(handlers: NestedHandlers, other_parameter: dict[str, Any], one: dict[str, Any]) -> dict[str, Any]:
    """POST …/{other}/accept and …/decline, for the invitee only."""
    parent, relation = handlers.parent, handlers.relation
    parameters = [id_parameter(parent), other_parameter]
    missing = problems("Unauthorized", "Forbidden", "NotFound")

    def answer(verb: str, description: str, responses: dict[str, Any]) -> dict[str, Any]:
        return {
            "parameters": parameters,
            "post": {
                "operationId": f"{verb}_{parent.name}_{relation.name}_invitation",
                "tags": [parent.name],
                "summary": f"{verb.title()} your invitation to the {relation.name} of a {parent.name} row",
                "description": description,
                "responses": {**responses, **missing},
            },
        }

    return {
        handlers.item + "/accept": answer(
            "accept",
            "Only the invitee (the caller whose user id is in the URL); anything else is a 404.",
            {"200": {"description": "The link, now active.", **one}},
        ),
        handlers.item + "/decline": answer(
            "decline", "Only the invitee; the invitation is deleted.", {"204": {"description": "Declined."}}
        ),
    }


def my_invitations_path(spec: Spec) -> dict[str, Any]:
    """GET /api/me/invitations, when some relation declares `invite`."""
    if not invited_relations(spec):
        return {}
    items = [
        {"allOf": [ref(component_name(spec.resources[relation.through])), {"type": "object"}]}
        for _, relation in invited_relations(spec)
    ]
    page = {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {"data": {"type": "array", "items": {"anyOf": items}}, "meta": {"type": "object"}},
    }
    return {
        "/api/me/invitations": {
            "get": {
                "operationId": "list_my_invitations",
                "tags": ["me"],
                "summary": "Your pending invitations",
                "description": "Each pending link naming you, newest first, with the parent's declared fields "
                "(`parent_fields`) and `_links` to accept or decline it.",
                "responses": {
                    "200": {"description": "Your pending invitations.", "content": {JSON: {"schema": page}}},
                    **problems("Unauthorized"),
                },
            }
        }
    }
