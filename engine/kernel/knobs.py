"""Reading protection settings from ENGINE_* variables: one parser per kind, one error shape.

A bad value stops the server at start-up with a message naming the variable and what it accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.kernel.errors import ConfigurationError

OFF = ("off", "none", "0")


def seconds(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    """A positive number of seconds; `off` (or 0) means no limit (None)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds or 'off', got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds or 'off', got {raw!r}")
    return value


def integer(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def choice(env: Mapping[str, str], name: str, default: str, options: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in options:
        raise ConfigurationError(f"{name} must be one of {', '.join(options)}; got {raw!r}")
    return raw


def items(env: Mapping[str, str], name: str) -> list[str] | None:
    """A comma-separated list (None when the variable is unset, [] when it is empty)."""
    if name not in env:
        return None
    return [item.strip() for item in env[name].split(",") if item.strip()]
