"""The `resource-engine mcp` command's arguments; the command itself is engine/features/mcp/stdio.py,
imported when the command runs so other commands and servers never load the MCP SDK."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "mcp",
        help="serve the MCP tools on stdin/stdout (for MCP clients that launch a command)",
        description=(
            "Serve this API's MCP tools (docs/mcp.md) on stdin/stdout. Acts with the credential in "
            "ENGINE_MCP_TOKEN (an access token or an API key)."
        ),
    )
    command.add_argument(
        "--url",
        help="forward to the /mcp endpoint of a running server (https://api.example.com/mcp) "
        "instead of starting the engine in this process",
    )
    command.set_defaults(run=cmd_mcp)


def cmd_mcp(args: argparse.Namespace, out: Any) -> int:
    from engine.features.mcp.stdio import run  # the MCP SDK loads only for this command

    return run(args, out)
