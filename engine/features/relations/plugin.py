"""Built-in relations: `?include=` embedding and the nested routes of many-to-many relations.

Declared in resources.yaml (`references`, `relations`); docs/relations.md. The generated
handlers ask `plan_includes`; this plugin answers it for every declared reference and relation.
A relation's `owner_joins` and `keep_one` rules are write hooks of their own (link_rules.py).
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from engine.features.relations.inline import attach_inline
from engine.features.relations.link_rules import LinkRules
from engine.features.relations.nested import nested_routes
from engine.features.relations.service import RELATIONS, Embedding, Relations
from engine.http.bulk import NESTED
from engine.http.keys import PLUGINS
from engine.kernel.config import Config
from engine.kernel.hooks import hookimpl
from engine.resources.context import WriteContext
from engine.spec import Resource, Spec


@hookimpl(trylast=True)
def configure(app: web.Application, spec: Spec, config: Config) -> None:
    app[RELATIONS] = Relations(spec)
    rules = LinkRules.of(app, spec)  # `owner_joins` / `keep_one` (link_rules.py): write hooks of this app
    if rules is not None:
        app[PLUGINS].register(rules, name="relations.link_rules")


@hookimpl(trylast=True)
def register_routes(spec: Spec) -> list[web.RouteDef]:
    return nested_routes(spec)


@hookimpl(trylast=True)
def plan_includes(
    app: web.Application, resource: Resource, names: tuple[str, ...], fields: tuple[str, ...] | None
) -> Embedding:
    return app[RELATIONS].plan(resource, names, fields)


@hookimpl(trylast=True)
def write_needs_transaction(context: WriteContext) -> bool:
    """A create carrying its links inline (inline.py) links them in its transaction."""
    return NESTED in context.notes


@hookimpl(trylast=True)
def after_write(context: WriteContext, resource: Resource, action: str, record: dict) -> Awaitable[None] | None:
    """A create that carried related items inline attaches them (None at once otherwise)."""
    if action == "create" and NESTED in context.notes:
        return attach_inline(context, resource, record)
    return None
