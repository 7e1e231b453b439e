"""The MCP server generated from the spec: `/mcp` (Streamable HTTP) and `resource-engine mcp` (stdio)."""
