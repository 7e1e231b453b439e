"""Event settings: ENGINE_EVENTS_* variables over `plugins.settings.events` in resources.yaml.

Read once when the app is built; a bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.spec import Spec


@dataclass(frozen=True)
class EventSettings:
    keepalive: float = 15.0  # seconds between keep-alive comments on an idle stream
    stream_buffer: int = 1000  # events queued per stream subscriber before it counts as too slow
    poll_interval: float = 5.0  # seconds between table polls when no notification arrives
    retries: int = 5  # retries of a failing on_event handler after its first attempt
    retry_backoff: float = 1.0  # seconds before the first retry; doubles each time (at most 5 minutes)
    handler_timeout: float = 30.0  # seconds one handler call may take before it counts as failed
    handler_lanes: int = 16  # concurrent lanes per handler; events of one record share a lane
    batch_size: int = 500  # events read from the table at a time
    max_streams: int = 10  # concurrent streams per user in one worker; more is a 429
    max_replay: int = 10_000  # events one resume sends before the stream ends (the client resumes again)


# ENGINE_* variable -> field; the YAML keys are the field names.
ENVIRONMENT = {
    "ENGINE_EVENTS_KEEPALIVE": "keepalive",
    "ENGINE_EVENTS_STREAM_BUFFER": "stream_buffer",
    "ENGINE_EVENTS_POLL_INTERVAL": "poll_interval",
    "ENGINE_EVENTS_RETRIES": "retries",
    "ENGINE_EVENTS_RETRY_BACKOFF": "retry_backoff",
    "ENGINE_EVENTS_HANDLER_TIMEOUT": "handler_timeout",
    "ENGINE_EVENTS_HANDLER_LANES": "handler_lanes",
    "ENGINE_EVENTS_BATCH_SIZE": "batch_size",
    "ENGINE_EVENTS_MAX_STREAMS": "max_streams",
    "ENGINE_EVENTS_MAX_REPLAY": "max_replay",
}
ZERO_ALLOWED = ("retries",)


def _parse(label: str, key: str, kind: type, raw: Any) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        expected = "a number" if kind is float else "a whole number"
        raise ConfigurationError(f"{label} must be {expected}, got {raw!r}") from None
    if value < 0 or (value == 0 and key not in ZERO_ALLOWED):
        bound = "0 or more" if key in ZERO_ALLOWED else "greater than 0"
        raise ConfigurationError(f"{label} must be {bound}, got {raw!r}")
    return value


def load_settings(spec: Spec, config: Config) -> EventSettings:
    """Defaults, then `plugins.settings.events` from resources.yaml, then ENGINE_EVENTS_* variables."""
    kinds = {f.name: type(f.default) for f in fields(EventSettings)}
    values: dict[str, Any] = {}
    from_yaml = spec.plugin_settings.get("events") or {}
    if not isinstance(from_yaml, dict):
        raise ConfigurationError("plugins.settings.events in resources.yaml must be a mapping")
    for key, raw in from_yaml.items():
        if key not in kinds:
            raise ConfigurationError(
                f"plugins.settings.events.{key} is not an events setting; use one of: {', '.join(kinds)}"
            )
        values[key] = _parse(f"plugins.settings.events.{key}", key, kinds[key], raw)
    for variable, key in ENVIRONMENT.items():
        raw = config.extra.get(variable)
        if raw not in (None, ""):
            values[key] = _parse(variable, key, kinds[key], raw)
    return EventSettings(**values)
