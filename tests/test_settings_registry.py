"""The settings registry: one declaration per variable, one parser, one error, and docs generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.http.app import create_app
from engine.kernel import settings
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError
from engine.kernel.settings import Setting
from engine.kernel.settings_docs import documents, render, tokens_in
from engine.spec import Spec

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"


def spec_with(settings_extra: dict | None = None, plugin_settings: dict | None = None) -> Spec:
    from engine.spec.model import Settings

    return Spec(
        path="resources.yaml",
        root=".",
        resources={},
        settings=Settings(extra=settings_extra or {}),
        plugin_settings=plugin_settings or {},
    )


# -- the docs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", documents(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_configuration_tables_match_the_registry(path):
    text = path.read_text()
    assert render(text) == text, (
        f"{path.relative_to(ROOT)}: a settings table drifted from the registry; "
        "run `python -m engine.kernel.settings_docs --write`"
    )


def test_every_declared_variable_has_a_row_in_the_readme():
    tokens = tokens_in((ROOT / "README.md").read_text())
    declared = settings.all_settings().values()
    missing = [s.name for s in declared if s.name not in tokens and s.group not in tokens]
    assert not missing, f"README.md has no settings table listing {missing}"


def test_a_table_drifts_when_a_row_is_edited_by_hand():
    text = "<!-- settings: ENGINE_BODY_LIMIT -->\n<!-- /settings -->\n"
    generated = render(text)
    assert "`ENGINE_BODY_LIMIT` | `1048576`" in generated
    assert render(generated.replace("1048576", "2048")) == generated


# -- one declaration, one reader -------------------------------------------------------------------


def test_every_feature_settings_module_is_a_source_of_the_registry():
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ENGINE / "features").glob("*/settings.py")
    }
    assert modules == set(settings.FEATURE_SOURCES)


def test_nothing_but_the_registry_reads_the_environment():
    allowed = {ENGINE / "kernel" / "settings.py"}
    read = re.compile(r"os\.environ(?!\[[^\]]+\]\s*=[^=])|getenv\(")
    readers = []
    for path in ENGINE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if read.search(line) and path not in allowed and "TEST_DATABASE_URL" not in line:
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not readers, "read settings through engine.kernel.settings:\n" + "\n".join(readers)


def test_a_variable_is_declared_once():
    first = settings.all_settings()["ENGINE_BODY_LIMIT"]
    settings.declare(first)  # a module imported again declares the same setting again
    twin = Setting(first.name, first.kind, first.default, "another meaning", first.group)
    with pytest.raises(ConfigurationError, match="declared twice"):
        settings.declare(twin)


# -- the parser's errors: one kind each --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("ENGINE_POOL_SIZE", "ten", "a whole number"),  # integer
        ("ENGINE_MAX_HEADERS", "4", "a whole number of at least 8"),  # integer with a minimum
        ("ENGINE_READYZ_TIMEOUT", "0", "a number greater than 0"),  # number
        ("ENGINE_REQUEST_TIMEOUT", "-3", "a positive number of seconds or 'off'"),  # seconds
        ("ENGINE_SESSION_MAX_AGE", "two weeks", "seconds or a number with s, m, h or d"),  # duration
        ("ENGINE_RATE_LIMIT", "lots", "look like 100/minute"),  # rate
        ("ENGINE_RATE_LIMIT_FAIL", "maybe", "one of open, closed"),  # choice
        ("ENGINE_TRUSTED_PROXIES", "10.0.0.0/8,proxy", "comma-separated IP addresses or networks"),  # list
        ("ENGINE_CORS_ORIGINS", "app.example.com", "comma-separated origins"),  # list of origins
        ("ENGINE_AUTO_MIGRATE", "sometimes", "1, true, yes, or 0, false, no, off"),  # boolean
        ("DATABASE_URL", "mysql://db/app", "a URL starting with postgresql:// or postgres://"),  # url
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_accepted(variable, value, accepted):
    with pytest.raises(ConfigurationError) as raised:
        settings.value(variable, {variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable} must ")
    assert accepted in message and repr(value) in message


def test_a_bad_value_in_resources_yaml_names_its_key():
    with pytest.raises(ConfigurationError, match=r"settings\.rate_limit must look like 100/minute"):
        settings.value("ENGINE_RATE_LIMIT", {}, spec_with({"rate_limit": "lots"}))


# -- values ------------------------------------------------------------------------------------------


def test_unset_and_empty_variables_take_the_declared_default():
    assert settings.value("ENGINE_MAX_JSON_DEPTH", {}) == 32
    assert settings.value("ENGINE_MAX_JSON_DEPTH", {"ENGINE_MAX_JSON_DEPTH": " "}) == 32


def test_values_are_typed():
    env = {"ENGINE_ACCESS_TOKEN_TTL": "15m", "ENGINE_REQUEST_TIMEOUT": "off", "ENGINE_AUTO_MIGRATE": "Yes"}
    assert settings.value("ENGINE_ACCESS_TOKEN_TTL", env) == 900
    assert settings.value("ENGINE_REQUEST_TIMEOUT", env) is None
    assert settings.value("ENGINE_AUTO_MIGRATE", env) is True


def test_an_empty_list_is_a_value_that_overrides_resources_yaml():
    spec = spec_with({"cors_origins": ["https://app.example.com"]})
    assert settings.value("ENGINE_CORS_ORIGINS", {}, spec) == ("https://app.example.com",)
    assert settings.value("ENGINE_CORS_ORIGINS", {"ENGINE_CORS_ORIGINS": ""}, spec) == ()


def test_the_variable_wins_over_resources_yaml_which_wins_over_the_default():
    spec = spec_with(plugin_settings={"events": {"keepalive": 30}})
    assert settings.value("ENGINE_EVENTS_KEEPALIVE", {}, spec_with()) == 15.0
    assert settings.value("ENGINE_EVENTS_KEEPALIVE", {}, spec) == 30
    assert settings.value("ENGINE_EVENTS_KEEPALIVE", {"ENGINE_EVENTS_KEEPALIVE": "2.5"}, spec) == 2.5


def test_config_reads_typed_values_from_its_variables():
    assert Config(extra={"ENGINE_POOL_TIMEOUT": "1.5"}).value("ENGINE_POOL_TIMEOUT") == 1.5


# -- start-up ----------------------------------------------------------------------------------------


def test_check_reports_every_bad_value_at_once():
    env = {"ENGINE_MAX_HEADERS": "2", "ENGINE_EVENTS_RETRIES": "-1", "ENGINE_IDEMPOTENCY_TTL": "1h"}
    with pytest.raises(ConfigurationError) as raised:
        settings.check(env, spec_with())
    message = str(raised.value)
    assert message.startswith("3 bad settings")
    assert all(name in message for name in env)


def test_an_unknown_key_of_a_declared_plugin_section_is_refused():
    with pytest.raises(ConfigurationError, match=r"plugins\.settings\.events\.keep_alive .* keepalive"):
        settings.check({}, spec_with(plugin_settings={"events": {"keep_alive": 5}}))


def test_a_bad_value_of_any_feature_stops_the_app_from_being_built(engine_spec, engine_env):
    config = Config(extra={**engine_env, "ENGINE_EVENTS_BATCH_SIZE": "many"})
    with pytest.raises(ConfigurationError, match="ENGINE_EVENTS_BATCH_SIZE must be a whole number"):
        create_app(engine_spec, config)
