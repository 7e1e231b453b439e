"""Optional packages load only when their feature is used: a worker that never serves MCP does not
carry the MCP SDK (about 30 MB resident, engine/features/mcp/runtime.py), and one without REDIS_URL
does not carry the redis package (about 5 MB, engine/db/redis.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BUILD_THE_APP = textwrap.dedent(
    """
    import json, sys
    from engine.http.app import create_app
    from engine.kernel.config import Config
    from engine.spec import load_spec

    spec = load_spec("resources.yaml")
    env = {"ENGINE_JWT_SECRET": "x" * 32, "ENGINE_SESSION_SECRET": "y" * 44, "ENGINE_ENV": "development"}
    create_app(spec, Config.from_env(spec, env=env, database_url="postgresql://nowhere/db"))
    print(json.dumps(sorted(sys.modules)))
    """
)


def loaded_after_building_the_app(*packages: str) -> list[str]:
    """The modules of `packages` a new process has imported once the example app is built."""
    result = subprocess.run([sys.executable, "-c", BUILD_THE_APP], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [m for m in json.loads(result.stdout) if m.split(".")[0] in packages]


def test_building_the_app_does_not_import_the_mcp_sdk():
    assert loaded_after_building_the_app("mcp", "mcp_types", "starlette") == []


def test_without_redis_url_the_redis_package_is_not_imported():
    assert loaded_after_building_the_app("redis") == []
