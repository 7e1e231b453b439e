"""A yes/no JSON Schema check compiled to closures, for the common keywords only.

jsonschema stays the authority: this check answers "valid" only where jsonschema would find no
error, and a body it calls invalid is handed to jsonschema for the precise list of errors. A
schema using any keyword outside KEYWORDS gets no fast check at all (`compile_check` returns
None), so a keyword's meaning is never guessed. Valid bodies are the common case, and jsonschema's
generic machinery costs about a fifth of a create; this costs a few microseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

# Keywords whose meaning is the same in every draft since 6 and that are checked below.
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly", "deprecated"}
)
KEYWORDS = ANNOTATIONS | {
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
}


class Unsupported(Exception):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    # jsonschema counts 1.0 as an integer
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or (math.isfinite(v) and v.is_integer())),
}


def _same(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: true is not 1, and containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _compile(schema: Any, formats: FormatChecker) -> Check:
    if schema is True or schema == {}:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or not set(schema) <= KEYWORDS:
        raise Unsupported(schema)
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        tests = [_TYPES[name] for name in names]
        checks.append(lambda v: any(test(v) for test in tests))
    if "enum" in schema:
        allowed = list(schema["enum"])
        checks.append(lambda v: any(_same(v, a) for a in allowed))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: _same(v, const))
    _strings(schema, formats, checks)
    _numbers(schema, checks)
    _objects(schema, formats, checks)
    _arrays(schema, formats, checks)
    return lambda v: all(check(v) for check in checks)


def _lengths(schema: dict, least: str, most: str, kind: type, checks: list[Check]) -> None:
    """minLength/maxLength on strings, minItems/maxItems on arrays: other types pass."""
    low, high = schema.get(least), schema.get(most)
    if low is not None:
        checks.append(lambda v: not isinstance(v, kind) or len(v) >= low)
    if high is not None:
        checks.append(lambda v: not isinstance(v, kind) or len(v) <= high)


def _strings(schema: dict, formats: FormatChecker, checks: list[Check]) -> None:
    _lengths(schema, "minLength", "maxLength", str, checks)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        checks.append(lambda v: not isinstance(v, str) or pattern.search(v) is not None)
    if "format" in schema:
        name = schema["format"]
        checks.append(lambda v: formats.conforms(v, name))


def _numbers(schema: dict, checks: list[Check]) -> None:
    bounds = {
        "minimum": lambda v, b: v >= b,
        "maximum": lambda v, b: v <= b,
        "exclusiveMinimum": lambda v, b: v > b,
        "exclusiveMaximum": lambda v, b: v < b,
    }
    for keyword, holds in bounds.items():
        if keyword in schema:
            bound = schema[keyword]
            if not _is_number(bound):
                raise Unsupported(keyword)  # draft 4's boolean exclusive bounds
            checks.append(lambda v, bound=bound, holds=holds: not _is_number(v) or holds(v, bound))


def _objects(schema: dict, formats: FormatChecker, checks: list[Check]) -> None:
    properties = {name: _compile(sub, formats) for name, sub in schema.get("properties", {}).items()}
    required = list(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra, formats)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            test = properties.get(name, extra_check)
            if test is not None and not test(item):
                return False
        return True

    if properties or required or extra_check is not None:
        checks.append(check)


def _arrays(schema: dict, formats: FormatChecker, checks: list[Check]) -> None:
    _lengths(schema, "minItems", "maxItems", list, checks)
    if "items" in schema:
        if not isinstance(schema["items"], (dict, bool)):
            raise Unsupported("items")  # a list of schemas: its meaning changed in 2020-12
        item = _compile(schema["items"], formats)
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))


def compile_check(schema: dict[str, Any], formats: FormatChecker) -> Check | None:
    """A fast yes/no for `schema`, or None when it uses a keyword this module does not check."""
    try:
        return _compile(schema, formats)
    except (Unsupported, KeyError, TypeError, re.error):
        return None
