"""Event settings: defaults, plugins.settings.events in resources.yaml, ENGINE_EVENTS_* on top."""

from __future__ import annotations

import pytest

from engine.features.events.settings import EventSettings, load_settings
from engine.http.app import create_app
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.spec import Spec, load_spec


def spec_with(events: dict | None = None) -> Spec:
    return Spec(path="resources.yaml", root=".", resources={}, plugin_settings={"events": events} if events else {})


def test_without_settings_the_defaults_apply():
    assert load_settings(spec_with(), Config()) == EventSettings()


def test_environment_variables_override_the_yaml_settings():
    spec = spec_with({"keepalive": 30, "stream_buffer": 50})
    config = Config(extra={"ENGINE_EVENTS_KEEPALIVE": "2.5"})

    settings = load_settings(spec, config)

    assert (settings.keepalive, settings.stream_buffer) == (2.5, 50)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ENGINE_EVENTS_STREAM_BUFFER", "0"), ("ENGINE_EVENTS_RETRIES", "-1"), ("ENGINE_EVENTS_KEEPALIVE", "often")],
)
def test_a_bad_value_stops_start_up_naming_the_variable(variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(spec_with(), Config(extra={variable: value}))


def test_zero_retries_means_a_single_attempt():
    assert load_settings(spec_with(), Config(extra={"ENGINE_EVENTS_RETRIES": "0"})).retries == 0


def test_an_unknown_yaml_setting_is_refused_with_the_known_ones():
    with pytest.raises(ConfigurationError, match="keepalive"):
        load_settings(spec_with({"keep_alive": 5}), Config())


def test_a_resource_named_events_is_refused_because_it_would_shadow_the_event_routes(write_spec, schema_of):
    path = write_spec(
        """
        version: 1
        resources:
          events:
            schema: schemas/event.json
        """,
        {"schemas/event.json": schema_of({"id": {"type": "string", "format": "uuid", "readOnly": True}})},
    )

    with pytest.raises(ConfigurationError, match="/api/events"):
        create_app(load_spec(str(path)), Config(database_url="postgresql://unused"))
