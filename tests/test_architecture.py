"""The layout keeps its promises (docs/architecture.md): layers import downwards only, nothing dodges
a cycle with an import inside a function, and plugins reach the engine only through engine.plugin."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

from engine.kernel.plugins import DEFAULT_PLUGINS

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
# Imports kept inside a function on purpose, and why (never to get round a cycle).
LAZY_IMPORTS = {("engine/testing.py", "engine.db.embedded"): "pytest loads this plugin in every project"}


def test_the_layer_contract_holds():
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def _function_level_engine_imports(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("engine"):
                    found.append(inner.module)
    return found


def test_no_engine_import_sits_inside_a_function():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in ENGINE.rglob("*.py")
        for module in _function_level_engine_imports(path)
        if (str(path.relative_to(ROOT)), module) not in LAZY_IMPORTS
    ]
    assert offenders == []


def _engine_modules_imported(path: pathlib.Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.startswith("engine"))
    return modules


def test_plugins_import_only_the_public_facade():
    plugin_files = [
        *(ROOT / "plugins").glob("*.py"),
        *(ROOT / "tests" / "plugins").glob("*.py"),
        *(ENGINE / "cli" / "scaffold" / "project" / "plugins").glob("*.py"),
    ]
    assert plugin_files
    internal = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in plugin_files
        for module in _engine_modules_imported(path)
        if module not in ("engine", "engine.plugin")
    }
    assert internal == set()


def test_every_built_in_feature_is_a_package_with_its_hooks_in_plugin_py():
    for module in DEFAULT_PLUGINS:
        parts = module.split(".")
        assert parts[:2] == ["engine", "features"], module
        assert (ENGINE / "features" / parts[2] / "__init__.py").exists(), module
