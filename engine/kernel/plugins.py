"""One plugin manager per app: built-ins, the project's plugins/ folder, and installed entry points."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from engine import hookspecs
from engine.kernel.hooks import PROJECT

if TYPE_CHECKING:
    from engine.spec import Spec

ENTRY_POINT_GROUP = "resource_engine"

# Built-in features, registered like any third-party plugin (and as switchable by name).
DEFAULT_PLUGINS = (
    "engine.features.access.plugin",
    # Before jwt_auth: trylast hooks answer in registration order, and `Bearer rek_...` is an API key.
    "engine.features.api_keys.plugin",
    "engine.features.jwt_auth.plugin",
    "engine.features.timeouts.plugin",  # first: the request deadline wraps the middlewares of all that follow
    "engine.features.replicas.plugin",  # marks what a read may see before any feature reads
    "engine.features.events.plugin",
    "engine.features.webhooks.plugin",  # after events: it follows the outbox events creates
    "engine.features.relations.plugin",
    "engine.features.history.plugin",
    "engine.features.transitions.plugin",
    "engine.features.batch.plugin",
    "engine.features.sessions.plugin",
    "engine.features.refresh_tokens.plugin",
    "engine.features.google_oauth.plugin",
    "engine.features.me.plugin",
    "engine.features.accounts.plugin",
    "engine.features.openapi.plugin",
    "engine.features.openapi.docs_page",
    "engine.features.console.plugin",
    # Protection (docs/protection.md). Built-ins are trylast, so their middlewares run in this order,
    # outermost first: the rate limit before the idempotency keys and the query cache.
    "engine.features.etags.plugin",
    "engine.features.input_limits.plugin",
    "engine.features.cors.plugin",
    "engine.features.security_headers.plugin",
    "engine.features.rate_limit.plugin",
    "engine.features.prefer_return.plugin",  # outside the idempotency keys: a replay is shaped by its request
    "engine.features.idempotency.plugin",
    "engine.features.soft_delete.plugin",  # ?deleted=only lists: inside the rate limit, before the query cache
    "engine.features.query_cache.plugin",
    "engine.features.request_log.plugin",
    "engine.features.metrics.plugin",
    "engine.features.health.plugin",
    "engine.features.mcp.plugin",
    # Last: its `configure` is called after the others', so a missing ENGINE_FIELD_KEYS is reported
    # after the problems of the settings every deployment needs (JWT, sessions).
    "engine.features.secrets.plugin",
)


class PluginError(Exception):
    pass


def _load_project_plugin(path: str, root: str) -> ModuleType:
    name = os.path.splitext(os.path.basename(path))[0]
    module_name = f"resource_engine_project.{abs(hash(root))}.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PluginError(f"{os.path.relpath(path)}: failed to import: {exc!r}") from exc
    return module


def _short_name(module_name: str) -> str:
    """The name a built-in is disabled by: its package (``engine.features.cors.plugin`` is ``cors``)."""
    parts = module_name.split(".")
    return parts[-2] if parts[-1] == "plugin" else parts[-1]


# Hooks renamed in 0.2 (old name -> new name): implementations under the old name still work, with a
# DeprecationWarning, for one release.
RENAMED = {
    "middlewares": "register_middlewares",
    "authenticate": "identity_from_request",
    "prepare_input": "before_validate",
    "openapi_document": "register_openapi",
}


class EnginePluginManager(pluggy.PluginManager):
    """pluggy's manager, taking the renamed hooks' old names (pluggy's documented override point)."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and name in RENAMED and not opts.get("specname"):
            warnings.warn(
                f"{_describe(plugin)}: the hook {name!r} is now called {RENAMED[name]!r}; "
                f"rename the function (the old name stops working in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
            opts = {**opts, "specname": RENAMED[name]}
        return opts


def _describe(plugin: Any) -> str:
    """A project plugin by its file (its module name is made up), anything else by its name."""
    name = getattr(plugin, "__name__", None)
    if name and name.startswith("resource_engine_project.") and getattr(plugin, "__file__", None):
        return os.path.relpath(plugin.__file__)
    return name or type(plugin).__qualname__


def refuse_wrappers(pm: pluggy.PluginManager) -> None:
    """Hook wrappers cannot wrap async implementations: refuse them, naming the plugin and the hook."""
    for name in pm.hook.__dict__:
        caller = getattr(pm.hook, name)
        for impl in caller.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: hook {name!r} is declared as a wrapper "
                    "(wrapper=True or hookwrapper=True), which the engine does not support because "
                    "every hook may be async; use a middleware (register_middlewares) or the "
                    "before_*/after_* hooks instead"
                )


def _register(pm: pluggy.PluginManager, plugin: Any, name: str | None, where: str) -> None:
    """pm.register, with pluggy's refusal (say, an argument the hook does not pass) naming the file."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        lines = str(exc).splitlines()
        hook = lines[0].rpartition(" for hook ")[2].strip("'")
        caller = getattr(pm.hook, hook, None)
        receives = f"; {hook} receives: {', '.join(caller.spec.argnames)}" if caller and caller.spec else ""
        raise PluginError(f"{where}: hook {hook!r}: {'; '.join(lines[1:]) or lines[0]}{receives}") from None


def _check_known_hooks(pm: pluggy.PluginManager, where: dict[str, str]) -> None:
    """pm.check_pending, naming the plugin's file and the hook it most likely meant."""
    known = [name for name in vars(pm.hook) if getattr(pm.hook, name).spec is not None]
    for name, caller in vars(pm.hook).items():
        for impl in [] if caller.spec is not None or name.startswith("_") else caller.get_hookimpls():
            if not impl.optionalhook:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the hooks are in {hookspecs.__file__}"
                plugin = where.get(impl.plugin_name, impl.plugin_name)
                raise PluginError(f"{plugin}: {name!r} is decorated with @hookimpl but is no hook{hint}")


def _check_disabled(spec: Spec, disabled: set[str], plugin_dir: str) -> None:
    """A name under plugins.disabled that no plugin has would leave the plugin meant running."""
    known = {_short_name(module_name) for module_name in DEFAULT_PLUGINS}
    known.update(entry_point.name for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if os.path.isdir(plugin_dir):
        known.update(entry[:-3] for entry in os.listdir(plugin_dir) if entry.endswith(".py"))
    for name in sorted(disabled - known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"plugins are: {', '.join(sorted(known))}"
        raise PluginError(f"{os.path.relpath(spec.path)}: plugins.disabled: no plugin is named {name!r}; {hint}")


def build_plugin_manager(spec: Spec, extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """Register built-ins (trylast by their hooks), project plugins and entry points; check them."""
    pm = EnginePluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    disabled = set(spec.disabled_plugins)
    where: dict[str, str] = {}
    for module_name in DEFAULT_PLUGINS:
        if _short_name(module_name) not in disabled:
            _register(pm, importlib.import_module(module_name), _short_name(module_name), module_name)
    plugin_dir = os.path.join(spec.root, "plugins")
    if os.path.isdir(plugin_dir):
        for entry in sorted(os.listdir(plugin_dir)):
            if entry.endswith(".py") and not entry.startswith("_"):
                name, path = entry[:-3], os.path.join(plugin_dir, entry)
                if name not in disabled:
                    where[name] = os.path.relpath(path)
                    _register(pm, _load_project_plugin(path, spec.root), name, where[name])
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in disabled and pm.get_plugin(entry_point.name) is None:
            where[entry_point.name] = f"entry point {entry_point.name} = {entry_point.value}"
            _register(pm, entry_point.load(), entry_point.name, where[entry_point.name])
    for plugin in extra_plugins:
        _register(pm, plugin, None, _describe(plugin))
    _check_disabled(spec, disabled, plugin_dir)
    _check_known_hooks(pm, where)
    refuse_wrappers(pm)
    return pm
