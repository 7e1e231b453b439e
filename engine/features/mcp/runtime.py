"""What `/mcp` runs on: the catalog, the SDK server and its session manager, built together.

Kept apart from the plugin so that the MCP SDK and what it imports (pydantic models, starlette,
anyio, httpx; about 30 MB resident) load only in a worker that receives an MCP request, not in
every worker of every deployment (engine/features/mcp/plugin.py imports this on first use).
"""

from __future__ import annotations

import pluggy

from engine.features.mcp.catalog import Catalog
from engine.features.mcp.endpoint import Endpoint
from engine.features.mcp.server import build_server
from engine.kernel.config import Config
from engine.spec import Spec


async def start_endpoint(spec: Spec, config: Config, pm: pluggy.PluginManager) -> Endpoint:
    """The endpoint serving `spec`'s tools, started (its session manager accepts requests)."""
    served = {"relations": pm.get_plugin("relations") is not None, "me": pm.get_plugin("me") is not None}
    catalog = Catalog(spec, page_size=config.page_size, max_page_size=config.max_page_size, **served)
    endpoint = Endpoint(build_server(catalog, pm))
    await endpoint.start()
    return endpoint
