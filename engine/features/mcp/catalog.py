"""Every MCP tool of a spec, by name: one per resource and action (tools.py), one per nested relation
route and `my_invitations` (relation_tools.py), and `me`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.features.mcp.relation_tools import InvitationsTool, relation_tools
from engine.features.mcp.tools import MeTool, ResourceTool, Tool, _list_input, _tool
from engine.kernel.errors import ConfigurationError
from engine.spec import ACTIONS, Spec

USERS = "users"


class Catalog:
    """Every tool the spec defines, in a stable order; who may use which is asked per caller.

    First one per resource and action, then the nested routes of each relation and `my_invitations`
    (`relations`: the relations plugin serves them) and `me` (`me`: the me plugin serves `GET /api/me`)."""

    def __init__(self, spec: Spec, *, page_size: int, max_page_size: int, relations: bool = True, me: bool = True):
        self.tools: dict[str, Tool] = {}
        for resource in spec.resources.values():
            for action in ACTIONS:
                tool = _tool(resource, action, page_size, max_page_size)
                self.tools[tool.name] = ResourceTool(tool.name, resource, action, tool)
        if relations:
            for relation_tool in relation_tools(spec, lambda r: _list_input(r, page_size, max_page_size)):
                self._add(relation_tool)
            if any(r.invite is not None for p in spec.resources.values() for r in p.relations.values()):
                self._add(InvitationsTool())
        if me and USERS in spec.resources:
            self._add(MeTool(spec.resources[USERS]))

    def _add(self, tool: Tool) -> None:
        if tool.name in self.tools:
            raise ConfigurationError(
                f"two MCP tools would be named {tool.name!r}: rename the relation or resource, "
                "or disable the mcp plugin"
            )
        self.tools[tool.name] = tool

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools.values())

    def get(self, name: str) -> Tool | None:
        return self.tools.get(name)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        tool = self.tools.get(name)
        return tool.tool.input_schema if tool is not None else None
