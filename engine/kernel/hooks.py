"""The hook markers and the two helpers every hook call goes through.

pluggy has no native async: an implementation may return an awaitable, and these helpers await
it (sync and async implementations mix freely). Wrappers (``wrapper=True``) are refused when a
plugin is registered (engine.kernel.plugins), because a generator cannot wrap an awaitable.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import Callable
from types import CoroutineType
from typing import Any

import pluggy

from engine.kernel.errors import ConfigurationError

PROJECT = "resource_engine"  # the project name engine/hookspecs.py declares its hooks under
hookimpl = pluggy.HookimplMarker(PROJECT)


def pure(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a hook implementation whose answer depends on its arguments alone, and on nothing that
    changes while the app runs (the spec, its own settings): no clock, no database, no request.

    Where every implementation of an access hook (`access_predicates`, `field_access`) is marked,
    the engine reuses an answer for the same resource, action and identity across requests instead
    of asking again (a read with includes asks a dozen times). Stack it under ``@hookimpl``.
    """
    function.engine_pure = True  # type: ignore[attr-defined]
    return function


def for_resources(applies: Callable[[Any], bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a write hook implementation (before_validate, before_write, after_write,
    write_needs_transaction, write_needs_previous) that has something to do only for the resources
    `applies(resource)` accepts: each resource's writes then never call it elsewhere (asked once per
    resource). Stack it under ``@hookimpl``."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        function.engine_resources = applies  # type: ignore[attr-defined]
        return function

    return mark


def kept_call(hook: pluggy.HookCaller) -> HookCall | None:
    """The `HookCall` `call_all` uses for `hook` while its implementations stay the same (None for a
    firstresult hook): a new one after a plugin was registered or unregistered."""
    return _kept(_ALL, hook, _all_call)


def _close_unstarted(answers: list[Any]) -> None:
    """Close coroutines that will never be awaited (or Python warns "never awaited")."""
    for later in answers:
        if inspect.iscoroutine(later):
            later.close()


async def call_all(hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """Call every implementation, awaiting async ones; non-None results in call order.

    Through a `HookCall` kept per hook while its implementations stay the same (a plugin
    registered or unregistered since makes a new one): half of pluggy's cost per call, and a
    request makes a dozen. A firstresult hook goes through pluggy (`call_first` is for those).
    """
    call = _kept(_ALL, hook, _all_call)
    if call is None:
        return await resolve([hook(**kwargs)])
    return await call(**kwargs)


async def call_first(hook: pluggy.HookCaller, **kwargs: Any) -> Any:
    """First non-None answer, awaiting each implementation before asking the next.

    pluggy's own firstresult would stop at an async implementation's coroutine even when it
    resolves to None, so first-result hooks are walked here in pluggy's call order.
    """
    for function, arguments in _kept(_FIRST, hook, _first_calls):
        result = function(*arguments(kwargs))
        if type(result) is CoroutineType or inspect.isawaitable(result):
            result = await result
        if result is not None:
            return result
    return None


def _all_call(hook: pluggy.HookCaller, impls: list[pluggy.HookImpl]) -> HookCall | None:
    return None if hook.spec is not None and hook.spec.opts.get("firstresult") else HookCall(hook)


def _first_calls(hook: pluggy.HookCaller, impls: list[pluggy.HookImpl]) -> tuple[tuple[Callable[..., Any], Any], ...]:
    return tuple((impl.function, _arguments(tuple(impl.argnames))) for impl in reversed(impls))


_Kept = dict[int, tuple[pluggy.HookCaller, list[pluggy.HookImpl], Any]]  # id(hook) -> (hook, its impls, built)
_ALL: _Kept = {}
_FIRST: _Kept = {}
_KEPT_LIMIT = 4096


def _kept(cache: _Kept, hook: pluggy.HookCaller, build: Callable[..., Any]) -> Any:
    """`build(hook, implementations)`, made again when the hook's implementations changed."""
    impls = hook.get_hookimpls()
    kept = cache.get(id(hook))
    if kept is None or kept[0] is not hook or kept[1] != impls:
        if len(cache) >= _KEPT_LIMIT:  # apps come and go (tests): forget the old ones' hooks
            cache.clear()
        kept = cache[id(hook)] = (hook, impls, build(hook, impls))
    return kept[2]


class HookCall:
    """`call_all` for one hook whose implementations are looked up once (a write's hooks run for
    every row of a bulk write): the same calls in pluggy's order, each implementation given the
    arguments it names, async answers awaited in order after all were called, as pluggy and
    `resolve` do; no call at all when nothing implements the hook. Build it once the plugins are
    registered (the resource manager does at its first write); wrappers are refused then already
    (engine.kernel.plugins.refuse_wrappers)."""

    __slots__ = ("_calls", "impls", "pure")

    def __init__(self, hook: pluggy.HookCaller, resource: Any = None):
        """`resource`: only the implementations for it (`for_resources`), for one resource's writes."""
        self.impls = tuple(
            (impl.function, tuple(impl.argnames))
            for impl in reversed(hook.get_hookimpls())
            if resource is None or _concerns(impl.function, resource)
        )
        self._calls = tuple((function, _arguments(names)) for function, names in self.impls)
        # Every implementation is marked with `pure`: an answer may be reused for equal arguments.
        self.pure = bool(self.impls) and all(getattr(function, "engine_pure", False) for function, _ in self.impls)

    async def __call__(self, **kwargs: Any) -> list[Any]:
        if not self._calls:
            return []
        answers = [function(*arguments(kwargs)) for function, arguments in self._calls]
        resolved = []
        for index, answer in enumerate(answers):
            if answer is None:
                continue
            if type(answer) in _PLAIN:  # most answers (a flag, rules, predicates): no awaitable check
                resolved.append(answer)
                continue
            if type(answer) is CoroutineType or inspect.isawaitable(answer):
                try:
                    answer = await answer
                except BaseException:
                    _close_unstarted(answers[index + 1 :])
                    raise
                if answer is None:
                    continue
            resolved.append(answer)
        return resolved


def _concerns(function: Callable[..., Any], resource: Any) -> bool:
    """Whether a hook implementation's `for_resources` test (if any) accepts `resource`."""
    applies = getattr(function, "engine_resources", None)
    if applies is None:
        return True
    try:
        return bool(applies(resource))
    except Exception as exc:
        raise ConfigurationError(
            f"the for_resources test of {function.__qualname__!r} raised {exc!r} on the resource {resource.name!r}"
        ) from exc


# Answer types that are never awaitable (exact types: a subclass may define __await__).
_PLAIN = frozenset({bool, int, str, tuple, list, dict, frozenset})


def _arguments(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The positional arguments an implementation names, taken from the call's keyword arguments."""
    if not names:
        return lambda kwargs: ()
    if len(names) == 1:
        name = names[0]
        return lambda kwargs: (kwargs[name],)
    return operator.itemgetter(*names)


def call_all_sync(hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """`call_all` where no event loop runs yet (the command line): async answers run to completion."""
    return asyncio.run(call_all(hook, **kwargs)) if _any_async(hook) else [r for r in hook(**kwargs) if r is not None]


def _any_async(hook: pluggy.HookCaller) -> bool:
    return any(inspect.iscoroutinefunction(impl.function) for impl in hook.get_hookimpls())


def has_awaitables(results: list[Any]) -> bool:
    return any(inspect.isawaitable(result) for result in results)


async def resolve(results: list[Any]) -> list[Any]:
    """Await the awaitable answers of a hook called synchronously; non-None results in order."""
    resolved = []
    for index, result in enumerate(results):
        if inspect.isawaitable(result):
            try:
                result = await result
            except BaseException:
                _close_unstarted(results[index + 1 :])
                raise
        if result is not None:
            resolved.append(result)
    return resolved
