"""`resource-engine token`: a signed access token for development and operations."""

from __future__ import annotations

import os

import jwt
import pytest

from engine.cli.main import main
from engine.testing import TEST_JWT_SECRET

SPEC = os.path.join(os.path.dirname(__file__), "..", "resources.yaml")


@pytest.fixture
def printed_token(monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_JWT_SECRET", TEST_JWT_SECRET)

    def run(*args):
        assert main(["--spec", SPEC, "token", *args]) == 0
        return capsys.readouterr().out.strip()

    return run


async def test_the_printed_token_signs_its_subject_in(api, printed_token):
    await api.as_user("alice")
    me = await api.with_token(printed_token("--sub", "alice")).get("/api/me")
    assert me.json["data"]["id"] == "alice"


async def test_role_admin_makes_an_admin_token(api, printed_token):
    await api.as_user("alice")
    assert (await api.with_token(printed_token("--sub", "root", "--role", "admin")).get("/api/users")).status == 200


def test_the_default_lifetime_is_15_minutes(printed_token):
    claims = jwt.decode(printed_token("--sub", "alice"), TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 900


def test_ttl_sets_the_lifetime(printed_token):
    claims = jwt.decode(printed_token("--sub", "alice", "--ttl", "1h"), TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600


def test_a_ttl_above_the_max_ttl_prints_an_error_instead_of_a_token(monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("ENGINE_JWT_MAX_TTL", "1h")
    assert main(["--spec", SPEC, "token", "--sub", "alice", "--ttl", "2h"]) == 1
    assert "ENGINE_JWT_MAX_TTL" in capsys.readouterr().err


def test_an_empty_subject_prints_an_error_instead_of_a_token_the_server_refuses(monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_JWT_SECRET", TEST_JWT_SECRET)
    assert main(["--spec", SPEC, "token", "--sub", ""]) == 2
    output = capsys.readouterr()
    assert output.out == "" and "--sub must be a user id" in output.err
