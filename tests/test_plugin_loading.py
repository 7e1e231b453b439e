"""Where plugins come from: the project's plugins/ folder and the `resource_engine` entry-point group,
each switchable off by name in resources.yaml; a plugin that fails to import stops start-up with its file."""

from __future__ import annotations

import json
import textwrap

import pytest

from engine.cli.main import main
from engine.kernel.plugins import PluginError, build_plugin_manager
from engine.spec import load_spec

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"}},
}
PLUGIN = textwrap.dedent(
    """
    from engine import hookimpl

    @hookimpl
    def register_commands(commands):
        commands.add_parser("{name}-hello", help="from the {name} plugin").set_defaults(run=lambda a, o: 0)
    """
)


def write_project(root, disabled=()):
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "note.json").write_text(json.dumps(SCHEMA))
    (root / "resources.yaml").write_text(
        "version: 1\n"
        f"plugins: {{disabled: {json.dumps(list(disabled))}}}\n"
        "resources:\n  notes:\n    schema: schemas/note.json\n"
    )
    return root / "resources.yaml"


def plugin_names(spec_path) -> set[str]:
    pm = build_plugin_manager(load_spec(str(spec_path)))
    return {name for name, _ in pm.list_name_plugin()}


def test_a_module_in_the_project_plugins_folder_is_loaded_under_its_file_name(tmp_path):
    spec = write_project(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "greeter.py").write_text(PLUGIN.format(name="greeter"))
    assert "greeter" in plugin_names(spec)
    assert main(["--spec", str(spec), "greeter-hello"]) == 0


def test_a_project_plugin_listed_as_disabled_is_not_loaded(tmp_path):
    spec = write_project(tmp_path, disabled=["greeter"])
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "greeter.py").write_text(PLUGIN.format(name="greeter"))
    assert "greeter" not in plugin_names(spec)


def test_a_built_in_plugin_listed_as_disabled_is_not_loaded(tmp_path):
    assert "rate_limit" in plugin_names(write_project(tmp_path))
    assert "rate_limit" not in plugin_names(write_project(tmp_path, disabled=["rate_limit"]))


@pytest.fixture
def installed_distribution(tmp_path, monkeypatch):
    """A real installed distribution (module + dist-info with an entry point) on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "engine_example_plugin.py").write_text(PLUGIN.format(name="installed"))
    info = site / "engine_example_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: engine-example-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[resource_engine]\nexample = engine_example_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    return "example"


def test_an_installed_package_registers_through_the_entry_point_group(tmp_path, installed_distribution):
    project = tmp_path / "project"
    project.mkdir()
    assert installed_distribution in plugin_names(write_project(project))


def test_an_installed_plugin_can_be_disabled_by_its_entry_point_name(tmp_path, installed_distribution):
    project = tmp_path / "project"
    project.mkdir()
    assert installed_distribution not in plugin_names(write_project(project, disabled=[installed_distribution]))


def test_a_plugin_that_fails_to_import_stops_start_up_naming_its_file(tmp_path, capsys):
    spec = write_project(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("import a_module_that_does_not_exist\n")
    with pytest.raises(PluginError, match=r"broken\.py"):
        build_plugin_manager(load_spec(str(spec)))
    assert main(["--spec", str(spec), "check"]) == 1
    assert "broken.py" in capsys.readouterr().err


def test_a_hook_taking_an_argument_the_hook_does_not_pass_is_refused_naming_the_file_and_the_arguments(
    tmp_path, capsys
):
    spec = write_project(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "rules.py").write_text(
        "from engine.plugin import hookimpl\n\n@hookimpl\ndef before_write(resource, row):\n    pass\n"
    )
    assert main(["--spec", str(spec), "check"]) == 1
    err = capsys.readouterr().err
    assert "rules.py: hook 'before_write'" in err and "{'row'}" in err
    assert "before_write receives: context, conn, resource, action, data, previous, identity" in err
    assert "Traceback" not in err


def test_a_misspelled_hook_is_refused_naming_the_file_and_the_hook_it_likely_meant(tmp_path, capsys):
    spec = write_project(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "rules.py").write_text(
        "from engine.plugin import hookimpl\n\n@hookimpl\ndef before_wirte(resource):\n    pass\n"
    )
    assert main(["--spec", str(spec), "check"]) == 1
    assert "rules.py: 'before_wirte' is decorated with @hookimpl but is no hook; did you mean 'before_write'?" in (
        capsys.readouterr().err
    )


def test_a_disabled_name_that_no_plugin_has_is_refused_with_the_name_it_likely_meant(tmp_path, capsys):
    spec = write_project(tmp_path, disabled=["docs_pag"])
    with pytest.raises(
        PluginError, match=r"plugins\.disabled: no plugin is named 'docs_pag'; did you mean 'docs_page'\?"
    ):
        build_plugin_manager(load_spec(str(spec)))
    assert main(["--spec", str(spec), "check"]) == 1
    assert "resources.yaml: plugins.disabled: no plugin is named 'docs_pag'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the CLI's own loading of plugin commands
def test_check_shows_a_hook_under_its_old_name_naming_the_file(tmp_path, capsys):
    spec = write_project(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "tidy.py").write_text(
        "from engine.plugin import hookimpl\n\n@hookimpl\ndef prepare_input(data):\n    pass\n"
    )
    assert main(["--spec", str(spec), "check"]) == 0
    output = capsys.readouterr()
    assert "tidy.py: the hook 'prepare_input' is now called 'before_validate'" in output.out + output.err
