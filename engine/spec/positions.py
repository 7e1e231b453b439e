"""Read YAML (and JSON) while remembering where every value came from.

Spec errors must point at a line and column the author can jump to, so the loader keeps a map
from each value's path (a tuple of keys and indexes) to its position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


class PositionedDocument:
    """A parsed document plus the position of each path in it."""

    def __init__(self, data: Any, values: dict[Path, Position], keys: dict[Path, Position]):
        self.data = data
        self._values = values
        self._keys = keys

    def position(self, path: Path, *, key: bool = False) -> Position:
        """Position of a path's value (or its key); falls back to the nearest known ancestor."""
        table = self._keys if key else self._values
        path = tuple(path)
        while path:
            if path in table:
                return table[path]
            if path in self._values:
                return self._values[path]
            path = path[:-1]
        return self._values.get((), Position(1, 1))


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: Path, values: dict, keys: dict) -> Any:
    values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_object(_loader(), key_node, deep=True)  # type: ignore[arg-type]
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                )
            if key in result:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            keys[(*path, key)] = _mark(key_node)
            result[key] = _build(value_node, (*path, key), values, keys)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), values, keys) for i, item in enumerate(node.value)]
    return _loader().construct_object(node, deep=True)


_LOADER: yaml.SafeLoader | None = None


def _loader() -> yaml.SafeLoader:
    global _LOADER
    if _LOADER is None:
        _LOADER = yaml.SafeLoader("")
    return _LOADER


def load_positioned(text: str) -> PositionedDocument:
    """Parse YAML text; raises yaml.YAMLError (with a mark) on syntax errors."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    values: dict[Path, Position] = {}
    keys: dict[Path, Position] = {}
    data = {} if node is None else _build(node, (), values, keys)
    return PositionedDocument(data, values, keys)


def dotted(path: Path) -> str:
    """resources.agents.indexes[0] style, as authors read it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
