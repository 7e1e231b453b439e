"""Everything a plugin author needs, from one module: ``from engine.plugin import hookimpl, Conflict``.

The names here are the public plugin API: they keep working across releases (a rename keeps the
old name for one release, with a DeprecationWarning). Anything imported from elsewhere in
``engine`` is internal and may move. The hooks themselves are documented in engine/hookspecs.py
and docs/plugins.md.
"""

from __future__ import annotations

from engine.http.body import read_object
from engine.http.handlers import BEARER_CHALLENGE, authorize, write_context
from engine.http.keys import CONFIG, DATABASE_URL, IDENTITY, INSIDE, MANAGERS, PLUGINS, POOL, REQUEST_ID, SPEC
from engine.http.middleware import after_authentication, for_methods, for_routes, observes_answers
from engine.http.responses import json_response, problem_response
from engine.kernel import settings  # the kinds of a Setting: settings.url, .integer, .seconds, .items ...
from engine.kernel.config import Config
from engine.kernel.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    Forbidden,
    GatewayTimeout,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from engine.kernel.event import Event, HandlerFailed
from engine.kernel.hooks import call_all, call_first, for_resources, hookimpl, pure
from engine.kernel.identity import ANONYMOUS_ROLE, Identity
from engine.kernel.settings import Setting, declare
from engine.resources.context import PoolSettings, WriteContext, WriteFold
from engine.resources.listing import IncludePlan, ListQuery
from engine.resources.manager import ResourceManager
from engine.spec import ACTIONS, Field, Reference, Relation, Resource, Spec
from engine.sql.compiled import Compiled, compile_expression, param
from engine.sql.ddl import column, ident, table
from engine.sql.queries import Columns, Link, Predicate, bind_predicates

__all__ = [
    "ACTIONS",
    "ANONYMOUS_ROLE",
    "BEARER_CHALLENGE",
    "CONFIG",
    "DATABASE_URL",
    "IDENTITY",
    "INSIDE",
    "MANAGERS",
    "PLUGINS",
    "POOL",
    "REQUEST_ID",
    "SPEC",
    "BadRequest",
    "Columns",
    "Compiled",
    "Config",
    "ConfigurationError",
    "Conflict",
    "Event",
    "Field",
    "Forbidden",
    "GatewayTimeout",
    "HandlerFailed",
    "Identity",
    "IncludePlan",
    "Link",
    "ListQuery",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PoolSettings",
    "PreconditionFailed",
    "Predicate",
    "Problem",
    "Reference",
    "Relation",
    "Resource",
    "ResourceManager",
    "ServiceUnavailable",
    "Setting",
    "Spec",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "WriteContext",
    "WriteFold",
    "after_authentication",
    "authorize",
    "bind_predicates",
    "call_all",
    "call_first",
    "column",
    "compile_expression",
    "declare",
    "for_methods",
    "for_resources",
    "for_routes",
    "hookimpl",
    "ident",
    "json_response",
    "observes_answers",
    "param",
    "problem_response",
    "pure",
    "read_object",
    "settings",
    "table",
    "write_context",
]
