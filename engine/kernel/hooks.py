"""The hook markers and the two helpers every hook call goes through.

pluggy has no native async: an implementation may return an awaitable, and these helpers await
it (sync and async implementations mix freely). Wrappers (``wrapper=True``) are refused when a
plugin is registered (engine.kernel.plugins), because a generator cannot wrap an awaitable.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pluggy

PROJECT = "resource_engine"  # the project name engine/hookspecs.py declares its hooks under
hookimpl = pluggy.HookimplMarker(PROJECT)


def _close_unstarted(answers: list[Any]) -> None:
    """Close coroutines that will never be awaited (or Python warns "never awaited")."""
    for later in answers:
        if inspect.iscoroutine(later):
            later.close()


async def call_all(hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """Call every implementation, awaiting async ones; non-None results in call order."""
    return await resolve(hook(**kwargs))


async def call_first(hook: pluggy.HookCaller, **kwargs: Any) -> Any:
    """First non-None answer, awaiting each implementation before asking the next.

    pluggy's own firstresult would stop at an async implementation's coroutine even when it
    resolves to None, so first-result hooks are walked here in pluggy's call order.
    """
    for impl in reversed(hook.get_hookimpls()):
        result = impl.function(**{name: kwargs[name] for name in impl.argnames})
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            return result
    return None


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
