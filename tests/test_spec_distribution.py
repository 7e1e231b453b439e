"""`distribute_by`: a Citus layout checked against the spec's keys and references (engine.spec.distribution)."""

from __future__ import annotations

import pytest

from engine.cli.main import main
from engine.spec import SpecError, load_spec

USER = {"id": {"type": "string"}, "email": {"type": "string"}}
TEAM = {"id": {"type": "string", "format": "uuid"}, "owner_id": {"type": "string"}, "name": {"type": "string"}}
UUID = {"type": "string", "format": "uuid"}
AGENT = {"id": UUID, "user_id": {"type": "string"}, "team_id": UUID}
LINK = {"id": UUID, "team_id": UUID, "agent_id": UUID}


@pytest.fixture(autouse=True)
def in_spec_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def layout(write_spec, schema_of):
    """A spec of users, teams, agents and team_agents with these `distribute_by` values (None: no plan)."""

    def write(users=None, teams=None, agents=None, team_agents=None, *, users_unique="[[email]]"):
        def plan(value):
            return "" if value is None else f"distribute_by: {value}"

        return write_spec(
            f"""
            version: 1
            resources:
              users:
                schema: schemas/user.json
                unique: {users_unique}
                {plan(users)}
              teams:
                schema: schemas/team.json
                references: {{owner_id: {{resource: users}}}}
                {plan(teams)}
              agents:
                schema: schemas/agent.json
                references: {{user_id: {{resource: users}}, team_id: {{resource: teams}}}}
                {plan(agents)}
              team_agents:
                schema: schemas/team_agent.json
                unique: [[team_id, agent_id]]
                references: {{team_id: {{resource: teams}}, agent_id: {{resource: agents}}}}
                {plan(team_agents)}
            """,
            {
                "schemas/user.json": schema_of(USER),
                "schemas/team.json": schema_of(TEAM),
                "schemas/agent.json": schema_of(AGENT),
                "schemas/team_agent.json": schema_of(LINK),
            },
        )

    return write


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    return raised.value.errors


def test_a_co_located_layout_with_reference_tables_passes(layout):
    spec = load_spec(str(layout(users="reference", teams="reference", agents="id", team_agents="agent_id")))
    assert spec.resources["team_agents"].distribute_by == "agent_id"


def test_a_distribution_column_that_is_not_a_property_is_reported(layout):
    errors = errors_of(layout(users="reference", teams="id", agents="tenant_id", team_agents="team_id"))
    assert any("agents.distribute_by: distribute_by 'tenant_id' is not a property" in e for e in errors), errors


def test_a_unique_key_without_the_distribution_column_is_reported(layout):
    errors = errors_of(layout(users="id", teams="owner_id", agents="user_id", team_agents="team_id"))
    assert any(
        "users.unique[0]: unique key [email] does not include the distribution column 'id'" in e for e in errors
    ), errors


def test_references_between_distributed_tables_that_are_not_co_located_are_reported(layout):
    errors = errors_of(layout(users="reference", teams="id", agents="user_id", team_agents="team_id"))
    joined = "\n".join(errors)
    assert "agents.references.team_id: agents.team_id references teams, but the two are not co-located" in joined
    assert "team_agents.references.agent_id: team_agents.agent_id references agents, but" in joined


def test_a_reference_table_that_references_a_distributed_table_is_reported(layout):
    errors = errors_of(layout(users="reference", teams="id", agents="team_id", team_agents="reference"))
    assert any("team_agents.team_id references teams, a distributed table: a reference table" in e for e in errors)


def test_a_table_without_a_plan_next_to_distributed_ones_is_reported(layout):
    errors = errors_of(layout(users=None, teams="id", agents="team_id", team_agents="team_id"))
    assert any("teams.owner_id references users, which has no distribute_by" in e for e in errors), errors


def test_a_spec_without_any_plan_is_not_checked(layout):
    load_spec(str(layout()))


def test_resource_engine_check_reports_the_layout_problem(layout, capsys):
    path = layout(users="reference", teams="id", agents="user_id", team_agents="team_id")
    assert main(["--spec", str(path), "check"]) == 1
    captured = capsys.readouterr()
    assert "not co-located" in captured.out + captured.err
