"""The settings registry: every environment variable the engine reads, declared once, read by one parser.

A module that owns settings declares them in a module-level ``SETTINGS`` tuple of `Setting`s: the
core in engine.kernel.core_settings, each feature in ``engine/features/<name>/settings.py``. The
registry imports the modules named in SOURCES by name (as the plugin manager imports the built-ins),
so the kernel imports no layer above it. A bad value raises one ConfigurationError naming the
variable, the value and what is accepted; `check` collects every bad value and raises once.

This module is the only reader of ``os.environ`` in engine/ (engine/testing.py reads the test-only
TEST_DATABASE_URL). The configuration tables in README.md and docs/*.md are generated from here:
``python -m engine.kernel.settings --write`` (``--check`` exits 1 when they drifted).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.kernel.errors import ConfigurationError

# Modules holding a SETTINGS tuple; the core first, so a core lookup imports no feature.
CORE_SOURCES = ("engine.kernel.core_settings", "engine.db.settings")
FEATURE_SOURCES = tuple(
    f"engine.features.{name}.settings"
    for name in (
        "jwt_auth",
        "refresh_tokens",
        "sessions",
        "google_oauth",
        "rate_limit",
        "timeouts",
        "input_limits",
        "cors",
        "security_headers",
        "query_cache",
        "idempotency",
        "metrics",
        "health",
        "events",
        "webhooks",
        "secrets",
        "query_power",
        "history",
        "soft_delete",
        "mcp",
        "batch",
    )
)
SOURCES = CORE_SOURCES + FEATURE_SOURCES
OFF = ("off", "none", "0")


@dataclass(frozen=True)
class Kind:
    """How a raw value becomes a typed one. `convert` raises ValueError or TypeError on a bad value."""

    accepts: str  # what follows "must" in an error: "be a whole number", "look like 100/minute"
    convert: Callable[[Any], Any]
    strip: bool = True  # surrounding whitespace is ignored
    keep_empty: bool = False  # an empty value is a value (else it means "unset": the default applies)


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Kind
    default: Any
    help: str
    group: str  # the docs table it belongs to (README.md lists each group)
    shown: str | None = None  # the default as the docs show it, when computed at run time
    yaml: str | None = None  # where resources.yaml sets it too (the variable wins): settings.rate_limit


def text(*, strip: bool = False, keep_empty: bool = False) -> Kind:
    return Kind("be text", str, strip=strip, keep_empty=keep_empty)


def integer(minimum: int | None = None) -> Kind:
    def convert(value: Any) -> int:
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(number)
        return number

    return Kind("be a whole number" + ("" if minimum is None else f" of at least {minimum}"), convert)


def number(*, above: float | None = None, minimum: float | None = None) -> Kind:
    def convert(value: Any) -> float:
        result = float(value)
        if (above is not None and not result > above) or (minimum is not None and result < minimum):
            raise ValueError(result)
        return result

    bound = (
        f" greater than {above:g}" if above is not None else f" of at least {minimum:g}" if minimum is not None else ""
    )
    return Kind(f"be a number{bound}", convert)


def _seconds(value: Any) -> float | None:
    if str(value).lower() in OFF:
        return None
    result = float(value)
    if not 0 < result < float("inf"):
        raise ValueError(result)
    return result


def seconds() -> Kind:
    """A positive number of seconds; `off` (or 0, `none`) means no limit (None)."""
    return Kind("be a positive number of seconds or 'off'", _seconds)


def parse_duration(text: str) -> int:
    """Seconds from `900`, `15m`, `12h` or `30d`: settings read better with units."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = str(text).strip()
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text)
    except ValueError:
        raise ValueError(f"invalid duration {text!r}: use seconds or a number with s, m, h or d") from None


def duration() -> Kind:
    return Kind("be seconds or a number with s, m, h or d (900, 15m, 12h, 30d)", parse_duration)


def choice(*options: str, case: Callable[[str], str] | None = None) -> Kind:
    """One of `options`; `case` (str.lower, str.upper) normalises the value first."""

    def convert(value: Any) -> str:
        value = case(value) if case else value
        if value not in options:
            raise ValueError(value)
        return value

    return Kind(f"be one of {', '.join(options)}", convert)


def items(convert_item: Callable[[str], Any] = str, accepts: str = "be a comma-separated list") -> Kind:
    """A comma-separated list (a list in resources.yaml); empty is a value: the empty list."""

    def convert(value: Any) -> tuple[Any, ...]:
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple):
            raise TypeError(value)
        return tuple(convert_item(str(part).strip()) for part in parts if str(part).strip())

    return Kind(accepts, convert, keep_empty=True)


def boolean() -> Kind:
    """1/true/yes or 0/false/no/off (any case); empty is false."""
    answers = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "off": False, "": False}
    return Kind("be 1, true, yes, or 0, false, no, off", lambda value: answers[str(value).lower()], keep_empty=True)


def url(*schemes: str) -> Kind:
    def convert(value: Any) -> str:
        if urlsplit(value).scheme not in schemes:
            raise ValueError(value)
        return value

    return Kind(f"be a URL starting with {' or '.join(s + '://' for s in schemes)}", convert)


def _identity(setting: Setting) -> tuple[Any, ...]:
    return (setting.help, setting.group, setting.yaml, setting.kind.accepts, repr(setting.default))


class _Registry:
    def __init__(self) -> None:
        self.settings: dict[str, Setting] = {}
        self.loaded: list[str] = []

    def load(self, sources: Iterable[str]) -> None:
        for source in sources:
            if source not in self.loaded:
                self.loaded.append(source)
                for setting in importlib.import_module(source).SETTINGS:
                    self.add(setting)

    def add(self, setting: Setting) -> None:
        """A name is declared once; a module imported again (a project plugin per app) may repeat it."""
        known = self.settings.get(setting.name)
        if known is not None and _identity(known) != _identity(setting):
            raise ConfigurationError(f"{setting.name} is declared twice, differently")
        self.settings[setting.name] = setting

    def find(self, name: str) -> Setting:
        self.load(CORE_SOURCES)
        if name not in self.settings:
            self.load(SOURCES)
        if name not in self.settings:
            raise KeyError(f"{name} is not a declared setting (declare it in a SETTINGS tuple)")
        return self.settings[name]


_REGISTRY = _Registry()


def declare(*settings: Setting) -> None:
    """Add settings from outside SOURCES (a third-party plugin's own variables)."""
    for setting in settings:
        _REGISTRY.add(setting)


def default(name: str) -> Any:
    """`name`'s declared default (for a reader that treats `off` as "the default")."""
    return _REGISTRY.find(name).default


def all_settings() -> dict[str, Setting]:
    """Every declared setting, by name."""
    _REGISTRY.load(SOURCES)
    return dict(_REGISTRY.settings)


_UNSET = object()


def parse(setting: Setting, raw: Any, label: str) -> Any:
    """The one parser: `raw` (a variable's text, or a value from resources.yaml) as `setting`'s type."""
    kind = setting.kind
    value = raw.strip() if isinstance(raw, str) and kind.strip else raw
    if value == "" and not kind.keep_empty:
        return _UNSET
    try:
        return kind.convert(value)
    except (ValueError, TypeError, KeyError):
        raise ConfigurationError(f"{label} must {kind.accepts}, got {raw!r}") from None


def _from_spec(spec: Any, path: str) -> Any:
    """The value at `path` (settings.X or plugins.settings.F.X) in the loaded spec, or None."""
    parts = path.split(".")
    if parts[0] == "settings":
        extra = spec.settings.extra
        return extra[parts[1]] if parts[1] in extra else getattr(spec.settings, parts[1], None)
    section = spec.plugin_settings.get(parts[2]) or {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"plugins.settings.{parts[2]} in resources.yaml must be a mapping")
    return section.get(parts[3])


def environment() -> dict[str, str]:
    """A copy of the process environment (the one place engine/ reads it)."""
    return dict(os.environ)


def value(name: str, env: Mapping[str, str] | None = None, spec: Any = None) -> Any:
    """`name`'s value: the variable in `env` (default os.environ), else resources.yaml, else the default."""
    setting = _REGISTRY.find(name)
    raw = (os.environ if env is None else env).get(name)
    if raw is not None and (parsed := parse(setting, raw, name)) is not _UNSET:
        return parsed
    if setting.yaml and spec is not None:
        found = _from_spec(spec, setting.yaml)
        if found is not None and (parsed := parse(setting, found, setting.yaml)) is not _UNSET:
            return parsed
    return setting.default


def explicit(name: str, env: Mapping[str, str] | None = None) -> Any:
    """`name`'s value when the variable is set (not empty), else None: for options it only overrides."""
    raw = (os.environ if env is None else env).get(name)
    parsed = _UNSET if raw is None else parse(_REGISTRY.find(name), raw, name)
    return None if parsed is _UNSET else parsed


def unknown_yaml_keys(spec: Any) -> list[str]:
    """plugins.settings.F keys no setting declares, for the sections F the registry owns."""
    owned: dict[str, list[str]] = {}
    for setting in all_settings().values():
        if setting.yaml and setting.yaml.startswith("plugins.settings."):
            section, key = setting.yaml.split(".")[2:4]
            owned.setdefault(section, []).append(key)
    errors = []
    for section, keys in owned.items():
        given = spec.plugin_settings.get(section)
        for key in given if isinstance(given, dict) else ():
            if key not in keys:
                known = ", ".join(keys)
                errors.append(f"plugins.settings.{section}.{key} is not a known {section} setting; use one of: {known}")
    return errors


def check(env: Mapping[str, str], spec: Any = None) -> None:
    """Parse every declared setting; raise one ConfigurationError listing every bad value."""
    errors = unknown_yaml_keys(spec) if spec is not None else []
    for setting in all_settings().values():
        try:
            value(setting.name, env, spec)
        except ConfigurationError as exc:
            errors.append(str(exc))
    if len(errors) == 1:
        raise ConfigurationError(errors[0])
    if errors:
        raise ConfigurationError(f"{len(errors)} bad settings:\n" + "\n".join(f"- {e}" for e in errors))
