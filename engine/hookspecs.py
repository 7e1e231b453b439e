"""Every hook of resource-engine, in the order a request meets them: the contract plugins rely on.

Write a plugin as a module or class with functions named like these hooks, decorated with
``engine.hookimpl`` (everything a plugin needs is importable from ``engine.plugin``); put it in
the project's ``plugins/`` folder or publish it under the ``resource_engine`` entry-point group.
The engine's own features (engine/features/*) are plugins on exactly these hooks.

Conventions, kept by the engine and checked by tests/test_hook_contract.py:
- Every hook may be a plain function or ``async def``; the engine awaits whatever is returned.
- "All results" hooks call every plugin and collect the non-None answers; "first result" hooks
  stop at the first non-None answer. Built-in plugins are registered ``trylast`` so yours win.
- Wrappers (``wrapper=True`` / ``hookwrapper=True``) are refused at registration, naming the
  hook: a generator cannot wrap an async implementation. Use a middleware or before/after hooks.
- To refuse a request, raise an ``engine.plugin.Problem`` subclass (``Forbidden``, ``Conflict`` ...);
  the client gets it as problem+json with your detail.
- Hooks receive keyword arguments; declare only the ones you use.
- Markers the engine reads from an implementation (stack them under ``@hookimpl``): ``@pure`` on
  ``access_predicates``/``field_access`` (an answer kept across requests when every implementation
  has it), ``@for_resources(applies)`` on the write hooks (not called for other resources' writes).

The names form families: ``configure``/``startup``/``shutdown`` and ``before_pool_open`` (the
app's life), ``register_*`` (contribute commands, routes, middlewares, OpenAPI), ``*_from_request``
(read the request), ``authorize``/``access_predicates``/``field_access`` (access), ``before_*``/``after_*`` and
``*_write`` (writes), ``plan_includes`` (reads), ``on_*`` (after the fact) and ``cache_*`` (a store).
Renamed in 0.2, accepted with a DeprecationWarning for one release: ``middlewares`` ->
``register_middlewares``, ``authenticate`` -> ``identity_from_request``, ``prepare_input`` ->
``before_validate``, ``openapi_document`` -> ``register_openapi`` (engine.kernel.plugins.RENAMED).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    import argparse

    import asyncpg
    from aiohttp import web

    from engine.kernel.config import Config
    from engine.kernel.event import Event
    from engine.kernel.identity import Identity
    from engine.resources.context import PoolSettings, WriteContext, WriteFold
    from engine.resources.listing import IncludePlan
    from engine.spec import Resource, Spec
    from engine.sql.queries import Predicate

hookspec = pluggy.HookspecMarker("resource_engine")  # engine.kernel.hooks.hookimpl is its pair
T = TypeVar("T")
Maybe = T | Awaitable[T]  # every hook may answer directly or through an awaitable


# --- the app's life: configuration, start-up and shutdown ----------------------------------------


@hookspec
def configure(app: web.Application, spec: Spec, config: Config) -> Maybe[None]:
    """Read and check your settings while the app is built, before anything listens.

    ``config.extra`` holds every ENGINE_* environment variable; ``spec.plugin_settings`` the
    ``plugins.settings`` block of resources.yaml. Raise ``ConfigurationError`` with an actionable
    message for a bad setting: the server refuses to start and prints it. Store what you computed
    on the app with your own ``web.AppKey``. A plain ``configure`` runs inside ``create_app``; an
    ``async def configure`` completes when the app starts, before the database opens and before
    the server listens.
    """


@hookspec
def before_pool_open(app: web.Application, settings: PoolSettings) -> Maybe[None]:
    """Adjust the database pool's settings (size, statement timeout, acquire bound) before it opens.

    ``settings`` is an ``engine.plugin.PoolSettings`` holding the configured values; change its
    attributes in place. Runs at start-up after ``configure``; results are ignored.
    """


@hookspec
def register_commands(commands: argparse._SubParsersAction) -> Maybe[None]:
    """Add sub-commands to the ``resource-engine`` CLI.

    ``commands`` is the argparse sub-parsers object: call ``commands.add_parser(name, help=...)``
    and ``set_defaults(run=function)``; ``function(args, out)`` returns the exit code.
    """


@hookspec
def rotate_field_keys(conn: asyncpg.Connection, keys: Any) -> Maybe[tuple[str, int, int] | None]:
    """Re-encrypt what this plugin stores with ``ENGINE_FIELD_KEYS`` under the newest key.

    Called by ``resource-engine keys rotate`` after the resources' secret fields; ``keys`` is the
    secrets feature's ``FieldKeys`` (``rotate(token)``, ``encrypt``, ``decrypt``). Answer
    ``(what, rotated, failed)``: a label for the command's report, how many values were
    re-encrypted, and how many no configured key opens (the command then exits 1).
    """


@hookspec
def startup(app: web.Application) -> Maybe[None]:
    """The app is built and the database pool is open; set up clients, caches, background tasks.

    Runs once per worker process, in registration order. Results are ignored.
    Example: ``app[MY_KEY] = await create_client()``.
    """


@hookspec
def shutdown(app: web.Application) -> Maybe[None]:
    """The app is stopping (after in-flight requests finished); close what ``startup`` opened."""


@hookspec
def register_routes(app: web.Application, spec: Spec) -> Maybe[list[web.RouteDef] | None]:
    """Return a list of ``aiohttp.web.RouteDef`` to add to the app (auth endpoints, health checks).

    All results: every plugin's routes are added. Routes under ``/api/`` must not clash with
    generated resource routes; the engine refuses to start if they do.
    """


@hookspec
def register_middlewares(app: web.Application, spec: Spec) -> Maybe[list[Any] | None]:
    """Return a list of aiohttp middlewares (``@web.middleware`` functions).

    All results, in plugin order; they run inside the engine's request id and error boundary
    and outside authentication, so they see every request, including failing ones. A middleware
    decorated with ``engine.plugin.after_authentication`` runs inside authentication instead,
    where ``request[IDENTITY]`` is set (rate limits and caches that act per caller); one decorated
    with ``engine.plugin.observes_answers`` runs outside the error boundary and gets the rendered
    problem rather than the exception (access logs, metrics); it must not raise. ``app`` is
    the app being built: its configuration (``app[CONFIG]``) and your ``configure`` state are set.
    """


# --- the request: who is calling, and may they act ----------------------------------------------


@hookspec(firstresult=True)
def identity_from_request(request: web.Request) -> Maybe[Identity | None]:
    """Return an ``engine.plugin.Identity`` for the caller, or None if your scheme is absent.

    First result: the first plugin that recognizes a credential wins. A credential that is
    present but invalid must raise ``Unauthorized`` (never fall through to anonymous). No plugin
    answering means the request is anonymous.
    """


@hookspec
def user_roles(app: web.Application, user_id: str) -> Maybe[frozenset[str] | None]:
    """Return the roles ``user_id`` holds now, from where your project keeps them (a column, a directory).

    Asked on every request made with a credential that does not carry roles itself (an API key),
    and at a Google sign-in. All results: the user holds the union of the roles the answers name
    (None is no answer; an empty set says "no roles"), and the credential keeps only the roles that
    both it and that union name, so a demoted user's keys lose the role at once. With no answer at
    all the credential keeps the roles it was created with (capped then by its creator's roles).
    Built in: ``ENGINE_ADMINS`` (google_oauth) and the users resource's ``roles_field`` (accounts).
    """


@hookspec
def authorize(
    request: web.Request | None, resource: Resource, action: str, identity: Identity | None
) -> Maybe[bool | None]:
    """Decide whether ``identity`` (None when anonymous) may perform ``action`` on ``resource``.

    ``action`` is one of list, read, create, update, delete. All results: any plugin returning
    False denies (403, or 401 when anonymous); raise a Problem for another answer. Row-level
    rules do not belong here: use ``access_predicates``. ``request`` is None when the question
    comes from outside a request (event delivery to a stream already open, a command).
    """


@hookspec
def access_predicates(
    resource: Resource, action: str, identity: Identity | None
) -> Maybe[Predicate | list[Predicate] | None]:
    """Return an ``engine.plugin.Predicate`` (or a list of them) limiting which rows are visible.

    ``action`` is list, read, update, delete, or attach (a write through one of the resource's
    relations, on the parent row: the nested routes' POST, PATCH and DELETE).

    All results, combined with AND into the WHERE clause of every query for this action: lists,
    single reads, updates, deletes, cursors and embeddings alike, so a hidden row is a 404 and
    never leaks through a count or a page. Build predicates from sqlglot expressions with
    ``engine.plugin.param`` placeholders; the predicate's ``key`` must identify its SQL shape.
    An embedding's far rows may be built with the predicate's optional ``through`` (docs/plugins.md):
    a cheaper condition on the link row first, which must imply the predicate.

    Mark an implementation ``@engine.plugin.pure`` when its answer depends on its arguments alone:
    where every implementation is marked, an answer is kept across requests (so is field_access's).
    """


@hookspec
def field_access(resource: Resource, mode: str, identity: Identity | None) -> Maybe[dict[str, Predicate] | None]:
    """Return {field name: ``Predicate``} for fields ``identity`` may ``mode`` (read or write) only
    on some rows; fields you leave out are unrestricted.

    All results; a field named by several plugins needs every one of their predicates. ``read``
    predicates become ``CASE WHEN`` columns of the one SELECT (a field failing it is absent from
    the response object, and cannot be filtered or sorted by); ``write`` predicates are checked
    against the row as it would be written, before the write (403 when they fail).
    """


# --- reads --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def plan_includes(
    app: web.Application, resource: Resource, names: tuple[str, ...], fields: tuple[str, ...] | None
) -> Maybe[IncludePlan | None]:
    """Plan ``?include=names`` on a read or list of ``resource``: return an ``IncludePlan``.

    First result. The plan says which extra columns the query must select (``fields``) and,
    after the query, fetches and attaches the included rows (``await plan.attach(request, rows)``).
    Raise ``BadRequest`` for a name you do not know. Without an answer, any include is a 400.
    The built-in relations feature answers for every declared reference and relation.
    """


# --- writes -------------------------------------------------------------------------------------


@hookspec
def before_validate(
    resource: Resource, action: str, data: dict[str, Any], identity: Identity | None, previous: dict[str, Any] | None
) -> Maybe[None]:
    """Adjust or refuse a create/update body before JSON Schema validation.

    ``data`` is the parsed body (a dict you may change in place), ``previous`` the stored row on
    update (None on create). Use it to fill fields from the identity (the owner) or to refuse
    fields a caller may not set (raise ``ValidationFailed``). All results ignored.
    """


@hookspec
def before_write(
    context: WriteContext,
    conn: asyncpg.Connection,
    resource: Resource,
    action: str,
    data: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    identity: Identity | None,
) -> Maybe[None]:
    """Inside the write's transaction, before its SQL: enforce business rules, write related rows.

    ``action`` is create, update or delete; ``data`` the validated values (None on delete);
    ``previous`` the row before the change (None on create). ``context`` is the write's
    ``WriteContext``: who writes (``identity``), on which connection (``conn``), ``notes`` that
    live until this write's ``after_write``, and ``shared`` state that lives as long as the
    request (the request's other writes). Raising a Problem rolls back.
    """


@hookspec
def after_write(
    context: WriteContext,
    conn: asyncpg.Connection,
    resource: Resource,
    action: str,
    record: dict[str, Any],
    previous: dict[str, Any] | None,
    identity: Identity | None,
) -> Maybe[None]:
    """Inside the write's transaction, after its SQL: ``record`` is the row as stored (the deleted
    row on delete). Write follow-up rows here; raising a Problem rolls the whole write back.
    ``context.folds`` holds the ``fold_into_write`` answers whose rows this write's statement
    already wrote (empty when it wrote only the change). In a set-based write of many rows,
    ``context.write_set`` lets you defer your rows and write them for all rows at once (a
    ``WriteSet``: ``defer(key, flush, rows)``; the engine awaits ``flush(conn, rows)`` after the
    last row's ``after_write``); it is None for a write of one row."""


@hookspec
def write_needs_transaction(
    context: WriteContext, resource: Resource, action: str, identity: Identity | None
) -> Maybe[bool | None]:
    """Return True when your ``before_write``/``after_write`` need this write's transaction.

    A create or update runs as one statement, without BEGIN/COMMIT (its events folded in), when no
    plugin needs the transaction. A ``before_write`` that takes no ``conn`` never does: it runs
    before the statement and refusing there writes nothing. A plugin with an ``after_write``, or a
    ``before_write`` taking ``conn``, that does not implement this hook always gets a transaction,
    so existing plugins keep their guarantees. Deletes and nested writes always run in one.
    """


@hookspec
def write_needs_previous(
    context: WriteContext, resource: Resource, action: str, data: dict[str, Any], identity: Identity | None
) -> Maybe[bool | None]:
    """Return True when your ``before_validate``/``before_write`` need ``previous`` on this update.

    Asked for updates only, with ``data`` the patch. When no plugin needs it (nor a field write
    rule, an ``If-Match``, or a schema whose fields depend on each other), an update runs as one
    statement that reads the stored row, changes that version of it and writes the folded rows
    (``fold_into_write``), and ``before_validate``/``before_write`` get ``previous=None``;
    ``after_write`` still gets the stored row. A plugin whose ``before_validate`` or
    ``before_write`` takes ``previous`` and that does not implement this hook always gets it,
    so existing plugins keep their guarantees. A rule that would need ``previous`` can keep the
    one statement by folding itself in as a condition (``WriteFold.guard``), as the
    built-in `transitions:` feature does (engine/features/transitions).
    """


@hookspec
def fold_into_write(resource: Resource, action: str) -> Maybe[WriteFold | None]:
    """Fold your follow-up rows into a single-statement create or update of ``resource``.

    All results; asked once per resource and action, at the first such write. Return a
    ``WriteFold``: ``ctes(written)`` gives (name, sqlglot expression) pairs that read the written
    row from the CTE named ``written``, and ``values(identity, previous)`` binds what they need.
    An update of one statement also has the row as it was in a CTE: a fold whose ``ctes`` takes a
    ``previous`` parameter is given its name (and ``values`` gets ``previous=None``); a fold
    whose ``ctes`` takes none makes the engine read the stored row first, in its own statement.
    The engine runs ``WITH written AS (<write> RETURNING *), <every plugin's CTEs> SELECT * FROM
    written`` and sets ``context.folds`` for ``after_write``. The built-in events feature folds the
    outbox row into the write this way.
    """


# --- after the fact -----------------------------------------------------------------------------


@hookspec
def on_event(event: Event) -> Maybe[None]:
    """A change was committed: ``event`` is an ``engine.plugin.Event`` (id, resource, action,
    record_id, actor, at, data, changes).

    Runs after commit, outside the request, in one process of the cluster: at least once (after a
    crash an event may come again, so make handlers idempotent, e.g. keyed by ``event.id``), in
    order per record. A handler that raises or exceeds ENGINE_EVENTS_HANDLER_TIMEOUT is retried with
    doubling backoff; after the last retry the failure is kept in ``_engine_event_failures``
    (`resource-engine events failures`) and reported to ``on_error``. Plain functions run on a
    thread pool; ``async def`` handlers on the event loop. See docs/events.md."""


@hookspec
def on_error(request: web.Request | None, error: BaseException) -> Maybe[None]:
    """An unexpected exception escaped a request handler, or an ``on_event`` handler gave up.

    ``request`` is None for background work; ``error`` is then an ``engine.plugin.HandlerFailed``
    carrying ``handler``, ``event`` and ``attempts`` (the original exception is its ``__cause__``).
    Report it to your error tracker; a request's client already got a 500 problem. The built-in
    implementation logs it."""


# --- caching and documents ------------------------------------------------------------------------


@hookspec(firstresult=True)
def cache_get(app: web.Application, resource: Resource, key: str) -> Maybe[bytes | None]:
    """Return the cached entry (bytes) stored under ``key`` for a list or read of ``resource``, or None.

    The query cache (``cache: {ttl: ...}`` on a resource) asks this before running the query.
    First result. ``key`` is a string that already holds the caller's access scope, the
    normalized query and the current data generation of the resource: a write moves the
    generation, so a store never has to invalidate anything, only to keep entries for their TTL.
    The built-in store (in-process LRU, or Redis with REDIS_URL) answers last, so yours wins.
    Raise nothing: answer None when your store is unavailable.
    """


@hookspec
def cache_put(app: web.Application, resource: Resource, key: str, body: bytes, ttl: int) -> Maybe[None]:
    """Keep ``body`` (opaque bytes: the response's headers and body) under ``key`` for ``ttl`` seconds.

    Called after a cacheable 200 answer to a list or read; all results are ignored. Store-only:
    the engine decides what to cache and when entries stop being reachable.
    """


@hookspec
def register_openapi(document: dict[str, Any], spec: Spec, app: web.Application) -> Maybe[None]:
    """Change the generated OpenAPI 3.1 ``document`` (a dict) in place: add security schemes,
    paths for your routes, examples. All results ignored.

    The engine writes every resource route; a plugin that registers routes (``register_routes``)
    must describe them here, or the route-coverage test fails. ``app`` is the configured app
    (read your own ``web.AppKey`` state from it). An operation anyone may call without
    credentials says ``"security": [{}]``; the engine then lists every security scheme as
    optional for it, and requires one of them on all other operations. The document is built
    once per app, on first use.
    """
