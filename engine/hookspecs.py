"""Every hook of resource-engine, in the order a request meets them.

Write a plugin as a module or class with functions named like these hooks, decorated with
``engine.hookimpl``; put it in the project's ``plugins/`` folder or publish it under the
``resource_engine`` entry-point group. The engine's own features (request ids, access rules,
JWT, ...) are plugins on exactly these hooks.

Conventions:
- A hook may be a plain function or ``async def``; the engine awaits whatever is returned.
- "All results" hooks call every plugin and collect the non-None answers; "first result" hooks
  stop at the first non-None answer. Built-in plugins are registered ``trylast`` so yours win.
- To refuse a request, raise an ``engine.kernel.errors.Problem`` subclass (``Forbidden``, ``Conflict`` ...);
  the client gets it as problem+json with your detail.
- Hooks receive keyword arguments; declare only the ones you use.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("resource_engine")


# --- configuration, start-up and shutdown --------------------------------------------------


@hookspec
def configure(app, spec, config):
    """Read and check your settings while the app is built, before anything listens.

    ``config.extra`` holds every ENGINE_* environment variable; ``spec.plugin_settings`` the
    ``plugins.settings`` block of resources.yaml. Raise ``engine.kernel.errors.ConfigurationError`` with
    an actionable message for a bad setting: the server refuses to start and prints it.
    Store what you computed on the app with your own ``web.AppKey``.
    """


@hookspec
def register_commands(commands):
    """Add sub-commands to the ``resource-engine`` CLI.

    ``commands`` is the argparse sub-parsers object: call ``commands.add_parser(name, help=...)``
    and ``set_defaults(run=function)``; ``function(args, out)`` returns the exit code.
    """


@hookspec
def startup(app):
    """The app is built and the database pool is open; set up clients, caches, background tasks.

    Runs once per worker process, in registration order. Results are ignored.
    Example: ``app[MY_KEY] = await create_client()``.
    """


@hookspec
def shutdown(app):
    """The app is stopping (after in-flight requests finished); close what ``startup`` opened."""


@hookspec
def register_routes(app, spec):
    """Return a list of ``aiohttp.web.RouteDef`` to add to the app (auth endpoints, health checks).

    All results: every plugin's routes are added. Routes under ``/api/`` must not clash with
    generated resource routes; the engine refuses to start if they do.
    """


@hookspec
def middlewares(app, spec):
    """Return a list of aiohttp middlewares (``@web.middleware`` functions).

    All results, in plugin order; they run inside the engine's request-id and error boundary
    and outside authentication, so they see every request, including failing ones. A middleware
    decorated with ``engine.http.middleware.after_authentication`` runs inside authentication
    instead, where ``request[IDENTITY]`` is set (rate limits and caches that act per caller).
    """


# --- the request: who is calling, and may they act ----------------------------------------------


@hookspec(firstresult=True)
def authenticate(request):
    """Return an ``engine.kernel.identity.Identity`` for the caller, or None if your scheme is absent.

    First result: the first plugin that recognizes a credential wins. A credential that is
    present but invalid must raise ``engine.kernel.errors.Unauthorized`` (never fall through to
    anonymous). No plugin answering means the request is anonymous.
    """


@hookspec
def authorize(request, resource, action, identity):
    """Decide whether ``identity`` (None when anonymous) may perform ``action`` on ``resource``.

    ``action`` is one of list, read, create, update, delete. All results: any plugin returning
    False denies (403, or 401 when anonymous); raise a Problem for another answer. Row-level
    rules do not belong here: use ``access_predicates``.
    """


@hookspec
def access_predicates(resource, action, identity):
    """Return an ``engine.sql.queries.Predicate`` (or a list of them) limiting which rows are visible.

    All results, combined with AND into the WHERE clause of every query for this action: lists,
    single reads, updates, deletes, cursors and embeddings alike, so a hidden row is a 404 and
    never leaks through a count or a page. Build predicates from sqlglot expressions with
    ``engine.sql.compiled.param`` placeholders; the predicate's ``key`` must identify its SQL shape.
    """


# --- the resource manager: writes ---------------------------------------------------------------


@hookspec
def prepare_input(resource, action, data, identity, previous):
    """Adjust or refuse a create/update body before JSON Schema validation.

    ``data`` is the parsed body (a dict you may change in place), ``previous`` the stored row on
    update (None on create). Use it to fill fields from the identity (the owner) or to refuse
    fields a caller may not set (raise ``engine.kernel.errors.ValidationFailed``). All results ignored.
    """


@hookspec
def before_write(conn, resource, action, data, previous, identity):
    """Inside the write's transaction, before its SQL: enforce business rules, write related rows.

    ``action`` is create, update or delete; ``data`` the validated values (None on delete);
    ``previous`` the row before the change (None on create). Raising a Problem rolls back.
    """


@hookspec
def after_write(conn, resource, action, record, previous, identity):
    """Inside the write's transaction, after its SQL: ``record`` is the row as stored (the deleted
    row on delete). Write follow-up rows here; raising a Problem rolls the whole write back."""


@hookspec
def write_needs_transaction(resource, action, identity):
    """Return True when your ``before_write``/``after_write`` need this write's transaction.

    A create or update runs as one statement, without BEGIN/COMMIT (its events folded in), when no
    plugin needs the transaction. A ``before_write`` that takes no ``conn`` never does: it runs
    before the statement and refusing there writes nothing. A plugin with an ``after_write``, or a
    ``before_write`` taking ``conn``, that does not implement this hook always gets a transaction,
    so existing plugins keep their guarantees. Deletes and nested writes always run in one.
    """


# --- after the response -------------------------------------------------------------------------


@hookspec
def on_event(event):
    """A change was committed. ``event`` has id, resource, action, record_id, actor, at, data, changes.

    Runs after commit, outside the request, in one process of the cluster: at least once (after a
    crash an event may come again, so make handlers idempotent, e.g. keyed by ``event.id``), in
    order per record. A handler that raises or exceeds ENGINE_EVENTS_HANDLER_TIMEOUT is retried with
    doubling backoff; after the last retry the failure is kept in ``_engine_event_failures``
    (`resource-engine events failures`) and reported to ``on_error``. Plain functions run on a
    thread pool; ``async def`` handlers on the event loop. See docs/events.md."""


@hookspec
def on_error(request, error):
    """An unexpected exception escaped a request handler, or an ``on_event`` handler gave up.

    ``request`` is None for background work; ``error`` is then an ``engine.features.events.HandlerFailed``
    carrying ``handler``, ``event`` and ``attempts`` (the original exception is its ``__cause__``).
    Report it to your error tracker; a request's client already got a 500 problem. The built-in
    implementation logs it."""


# --- caching and documents ------------------------------------------------------------------------


@hookspec(firstresult=True)
def cache_get(app, resource, key):
    """Return the cached entry (bytes) stored under ``key`` for a list or read of ``resource``, or None.

    The query cache (``cache: {ttl: ...}`` on a resource) asks this before running the query.
    First result. ``key`` is a string that already holds the caller's access scope, the
    normalized query and the current data generation of the resource: a write moves the
    generation, so a store never has to invalidate anything, only to keep entries for their TTL.
    The built-in store (in-process LRU, or Redis with REDIS_URL) answers last, so yours wins.
    Raise nothing: answer None when your store is unavailable.
    """


@hookspec
def cache_put(app, resource, key, body, ttl):
    """Keep ``body`` (opaque bytes: the response's headers and body) under ``key`` for ``ttl`` seconds.

    Called after a cacheable 200 answer to a list or read; all results are ignored. Store-only:
    the engine decides what to cache and when entries stop being reachable.
    """


@hookspec
def openapi_document(document, spec, app):
    """Change the generated OpenAPI 3.1 ``document`` (a dict) in place: add security schemes,
    paths for your routes, examples. All results ignored.

    The engine writes every resource route; a plugin that registers routes (``register_routes``)
    must describe them here, or the route-coverage test fails. ``app`` is the configured app
    (read your own ``web.AppKey`` state from it). An operation anyone may call without
    credentials says ``"security": [{}]``; the engine then lists every security scheme as
    optional for it, and requires one of them on all other operations. The document is built
    once per app, on first use.
    """
