"""Built-in access control: roles per action from `permissions`, ownership and `access` rules as SQL.

Declared in resources.yaml, enforced here for every route: a role outside `permissions` gets
403 (401 when anonymous); a non-admin sees only rows whose owner field is their user id, or that
the resource's `access` rules let them see (engine.features.access.rules), so another user's row
is a 404 everywhere, and never learns the owner field from a write. Field rules (`access.fields`)
come from the `field_access` hook.
"""

from __future__ import annotations

from sqlglot import exp

from engine.features.access.rules import access_block_predicate, field_predicates, governs
from engine.kernel.errors import ValidationFailed
from engine.kernel.hooks import hookimpl, pure
from engine.kernel.identity import ANONYMOUS_ROLE, Identity
from engine.resources.values import ValueProblem, from_query, to_json
from engine.spec import Resource
from engine.sql.compiled import param
from engine.sql.ddl import column
from engine.sql.queries import Predicate

DEFAULT_ROLES = ("user",)  # no `permissions` entry: any signed-in caller
OWNER_PARAM = "a_owner"


def allowed_roles(resource: Resource, action: str) -> tuple[str, ...]:
    """The roles `permissions` lists for the action; unlisted actions are open to any signed-in user."""
    return resource.permissions.get(action, DEFAULT_ROLES)


@hookimpl(trylast=True)
def authorize(resource: Resource, action: str, identity: Identity | None) -> bool:
    roles = allowed_roles(resource, action)
    if identity is None:
        return ANONYMOUS_ROLE in roles
    if identity.is_admin or ANONYMOUS_ROLE in roles or "user" in roles:
        return True
    return bool(identity.roles & set(roles))


def owner_predicate(resource: Resource) -> Predicate:
    owner = resource.owner

    def build(table: str) -> exp.Expression:
        return column(owner, table).eq(param(OWNER_PARAM))

    return Predicate(("owner", owner), build)


_NOBODY = Predicate(("nobody",), lambda table: exp.false())


@hookimpl(trylast=True)
@pure
def access_predicates(resource: Resource, action: str, identity: Identity | None) -> Predicate | None:
    if governs(resource, action):  # the resource's `access` block replaces owner-only for this action
        return access_block_predicate(resource, action, identity)
    if resource.owner is None or (identity is not None and identity.is_admin):
        return None
    owner = _owner_value(resource, identity.user_id) if identity is not None else None
    if owner is None:
        return _NOBODY
    predicate = owner_predicate(resource)
    return Predicate(predicate.key, predicate.build, {OWNER_PARAM: owner})


@hookimpl(trylast=True)
@pure
def field_access(resource: Resource, mode: str, identity: Identity | None) -> dict[str, Predicate] | None:
    """The `access.fields` rules of the resource (none for admins)."""
    return field_predicates(resource, mode, identity) if resource.field_access else None


def _owner_value(resource: Resource, user_id: str):
    """The user id as the owner column's type; None (owns nothing) when it cannot be one, e.g. a
    non-uuid id against a uuid owner column, which would otherwise fail in the database."""
    try:
        return from_query(resource.fields[resource.owner], user_id)
    except ValueProblem:
        return None


def _read_only_for(
    resource: Resource, action: str, data: dict, identity: Identity | None, previous: dict | None = None
) -> list[str]:
    """Fields a non-admin (or anonymous) caller sent but may not set: `protected` ones and the owner.

    The exceptions: creating your own row where the owner field is the primary key (users.id), and
    an update sending a field's stored value (a row read, edited and sent back whole): no change.
    """
    refused = [name for name in resource.protected if name in data]
    owner = resource.owner
    own_row = (
        identity is not None
        and action == "create"
        and owner == resource.primary_key
        and data.get(owner) == identity.user_id
    )
    if owner and owner in data and not own_row:
        refused.append(owner)
    if previous is not None:
        refused = [name for name in refused if data[name] != to_json(resource.fields[name], previous.get(name))]
    return list(dict.fromkeys(refused))


def _sends_read_only(resource: Resource, data: dict) -> bool:
    return any(name in data for name in resource.protected) or bool(resource.owner and resource.owner in data)


@hookimpl(trylast=True)
def write_needs_previous(resource: Resource, data: dict, identity: Identity | None) -> bool:
    """An update by a non-admin that sends a protected or owner field: it is allowed when the value
    is the stored one, which takes the stored row (any other update stays one statement)."""
    return not (identity is not None and identity.is_admin) and _sends_read_only(resource, data)


@hookimpl(trylast=True)
def before_validate(
    resource: Resource, action: str, data: dict, identity: Identity | None, previous: dict | None
) -> None:
    owner = resource.owner
    if identity is not None and identity.is_admin:  # admins may set anything, the owner included
        if action == "create" and owner and owner not in data:
            data[owner] = identity.user_id
        return
    refused = _read_only_for(resource, action, data, identity, previous) if _sends_read_only(resource, data) else None
    if refused:
        raise ValidationFailed(
            [
                {
                    "path": f"/{name}",
                    "message": f"'{name}' is read-only for you"
                    + (": it is set from your credentials" if name == owner else ""),
                }
                for name in refused
            ]
        )
    if action == "create" and owner and identity is not None:
        data[owner] = identity.user_id
