"""The layout keeps its promises (docs/architecture.md): layers import downwards only, nothing dodges
a cycle with an import inside a function, and plugins reach the engine only through engine.plugin."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
from collections import defaultdict

import grimp

from engine.kernel.plugins import DEFAULT_PLUGINS

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
# Imports kept inside a function on purpose, and why (never to get round a cycle).
LAZY_IMPORTS = {
    ("engine/testing.py", "engine.db.embedded"): "pytest loads this plugin in every project",
    ("engine/features/mcp/plugin.py", "engine.features.mcp.runtime"): "the MCP SDK (~30 MB) loads on first use",
    ("engine/features/mcp/cli.py", "engine.features.mcp.stdio"): "the MCP SDK loads only for `resource-engine mcp`",
    ("engine/db/redis.py", "engine.db.redis_client"): "the redis package (~5 MB) loads only with REDIS_URL",
    ("engine/db/redis.py", "engine.db.breaker"): "the breaker imports the redis package's errors",
    ("engine/features/sessions/store.py", "engine.features.sessions.redis_store"): "Redis sessions need REDIS_URL",
}


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


def _package(module: str) -> str:
    """engine.X, or engine.features.Y for a feature: the units that must not import each other in a circle."""
    parts = module.split(".")
    return ".".join(parts[:3] if len(parts) >= 3 and parts[1] == "features" else parts[:2])


def _reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return False


def test_no_two_packages_import_each_other_in_a_circle():
    graph = grimp.build_graph("engine", exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if _package(module) != _package(imported):
                edges[_package(module)].add(_package(imported))
    assert edges["engine.http"] and edges["engine.features.events"]  # the graph was read
    circles = sorted((a, b) for a in list(edges) for b in list(edges[a]) if a < b and _reaches(edges, b, a))
    assert circles == []


def test_no_object_changes_its_class_at_run_time():
    swaps = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in ENGINE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "__class__ =" in line
    ]
    assert swaps == []
