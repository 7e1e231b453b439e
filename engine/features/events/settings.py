"""Event settings: ENGINE_EVENTS_* variables over `plugins.settings.events` in resources.yaml.

Declared for engine.kernel.settings (the YAML keys are the field names); read once when the app is
built, and a bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from engine.kernel import settings
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.settings import Setting, integer, number
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


def _event_setting(key: str, kind: settings.Kind, help: str) -> Setting:
    default = EventSettings.__dataclass_fields__[key].default
    return Setting(f"ENGINE_EVENTS_{key.upper()}", kind, default, help, "events", yaml=f"plugins.settings.events.{key}")


SETTINGS = (
    _event_setting("keepalive", number(above=0), "seconds between keep-alive comments on an idle stream"),
    _event_setting(
        "stream_buffer", integer(minimum=1), "events buffered per stream connection before it counts as too slow"
    ),
    _event_setting(
        "poll_interval",
        number(above=0),
        "seconds between table polls without a notification; also how often a process retries to take over "
        "handler delivery",
    ),
    _event_setting(
        "retries", integer(minimum=0), "retries of a failing handler after its first attempt (0: one attempt)"
    ),
    _event_setting("retry_backoff", number(above=0), "seconds before the first retry; doubles each retry, at most 300"),
    _event_setting("handler_timeout", number(above=0), "seconds one handler call may take before it counts as failed"),
    _event_setting(
        "handler_lanes", integer(minimum=1), "concurrent lanes per handler (events of one record share a lane)"
    ),
    _event_setting("batch_size", integer(minimum=1), "events read from the table at a time"),
    _event_setting(
        "max_streams",
        integer(minimum=1),
        "concurrent event streams per user in one worker process; beyond it 429 with Retry-After",
    ),
    _event_setting(
        "max_replay",
        integer(minimum=1),
        "events one resumed stream replays before it ends (the client resumes from the last id it got)",
    ),
)


def load_settings(spec: Spec, config: Config) -> EventSettings:
    """Defaults, then `plugins.settings.events` from resources.yaml, then ENGINE_EVENTS_* variables."""
    unknown = [error for error in settings.unknown_yaml_keys(spec) if error.startswith("plugins.settings.events.")]
    if unknown:
        raise ConfigurationError(unknown[0])
    return EventSettings(
        **{f.name: settings.value(f"ENGINE_EVENTS_{f.name.upper()}", config.extra, spec) for f in fields(EventSettings)}
    )
