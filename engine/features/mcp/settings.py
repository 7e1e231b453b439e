"""MCP settings, declared for engine.kernel.settings."""

from __future__ import annotations

from engine.kernel.settings import Setting, text

SETTINGS = (
    Setting(
        "ENGINE_MCP_TOKEN",
        text(strip=True),
        None,
        "the credential `resource-engine mcp` (stdio) acts with: an access token or an API key, sent as "
        "`Authorization: Bearer`; unset: anonymous",
        "mcp",
    ),
)
