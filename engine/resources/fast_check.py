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
    """A fast yes/no for `schema`, or None when it uses a keyword this module does not check.

    The check is one generated Python function (a bulk create runs it for every item, so the
    closures' call per keyword per value counted); a schema nested too deep for Python's block
    limit keeps the closures."""
    try:
        closures = _compile(schema, formats)
    except (Unsupported, KeyError, TypeError, re.error):
        return None
    try:
        return _Generator(formats).function(schema)
    except (SyntaxError, RecursionError, MemoryError):
        return closures


_MISSING = object()
_GUARDS = {"string": "str", "array": "list", "object": "dict"}  # a keyword group applies to one kind


def _is_integer(value: Any) -> bool:
    return _TYPES["integer"](value)


class _Generator:
    """Writes the checks of `_compile` as the statements of one function: ``return False`` at the
    first that fails, ``return True`` at the end. Same keywords, same meaning: the value's declared
    type lets a keyword group's own type test be left out (a string's length, an object's keys)."""

    _TESTS = {
        "object": "isinstance({v}, dict)",
        "array": "isinstance({v}, list)",
        "string": "isinstance({v}, str)",
        "boolean": "isinstance({v}, bool)",
        "null": "{v} is None",
        "number": "(type({v}) is int or type({v}) is float or _is_number({v}))",  # exact types first: no call
        "integer": "(type({v}) is int or _is_integer({v}))",
    }

    def __init__(self, formats: FormatChecker):
        self.names: dict[str, Any] = {
            "_is_number": _is_number,
            "_is_integer": _is_integer,
            "_same": _same,
            "_MISSING": _MISSING,
            "_formats": formats,
        }
        self.count = 0

    def function(self, schema: Any) -> Check:
        body = self.schema(schema, "v0", "    ")
        source = "def check(v0):\n" + "".join(line + "\n" for line in body) + "    return True\n"
        exec(compile(source, "<fast_check>", "exec"), self.names)  # our own text: values only by name
        return self.names["check"]

    def const(self, value: Any) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def schema(self, schema: Any, v: str, indent: str) -> list[str]:
        if schema is True or schema == {}:
            return []
        if schema is False:
            return [f"{indent}return False"]
        lines: list[str] = []
        kind = None  # the one JSON type the value has once the type check passed
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [self._TESTS[name].format(v=v) for name in names]
            lines.append(f"{indent}if not ({' or '.join(tests) or 'False'}): return False")
            kind = names[0] if len(names) == 1 else None
        if "enum" in schema:
            allowed = list(schema["enum"])
            if allowed and all(type(a) is str for a in allowed):
                choices = self.const(frozenset(allowed))
                lines.append(f"{indent}if type({v}) is not str or {v} not in {choices}: return False")
            else:
                lines.append(f"{indent}if not any(_same({v}, a) for a in {self.const(allowed)}): return False")
        if "const" in schema:
            lines.append(f"{indent}if not _same({v}, {self.const(schema['const'])}): return False")
        if "format" in schema:
            lines.append(f"{indent}if not _formats.conforms({v}, {self.const(schema['format'])}): return False")
        lines += self._kind(schema, v, indent, kind, "string", self._strings)
        lines += self._kind(schema, v, indent, kind, "array", self._arrays)
        lines += self._kind(schema, v, indent, kind, "object", self._objects)
        lines += self._numbers(schema, v, indent, kind)
        return lines

    def _kind(self, schema: dict, v: str, indent: str, kind: str | None, group: str, write: Any) -> list[str]:
        """A keyword group's statements, under its type test unless the declared type settles it."""
        if kind is not None and kind != group:
            return []  # the value is of another type: the group's keywords pass
        if kind == group:
            return write(schema, v, indent)
        inner = write(schema, v, indent + "    ")
        return [f"{indent}if isinstance({v}, {_GUARDS[group]}):", *inner] if inner else []

    def _strings(self, schema: dict, v: str, indent: str) -> list[str]:
        lines = self._lengths(schema, "minLength", "maxLength", v, indent)
        if "pattern" in schema:
            pattern = self.const(re.compile(schema["pattern"]))
            lines.append(f"{indent}if {pattern}.search({v}) is None: return False")
        return lines

    def _lengths(self, schema: dict, least: str, most: str, v: str, indent: str) -> list[str]:
        lines = []
        if schema.get(least) is not None:
            lines.append(f"{indent}if not len({v}) >= {self.const(schema[least])}: return False")
        if schema.get(most) is not None:
            lines.append(f"{indent}if not len({v}) <= {self.const(schema[most])}: return False")
        return lines

    def _numbers(self, schema: dict, v: str, indent: str, kind: str | None) -> list[str]:
        if kind is not None and kind not in ("number", "integer"):
            return []
        tests = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        lines = [
            f"{indent}if not {v} {op} {self.const(schema[keyword])}: return False"
            for keyword, op in tests.items()
            if keyword in schema
        ]
        if kind is None and lines:
            return [f"{indent}if _is_number({v}):", *["    " + line for line in lines]]
        return lines

    def _objects(self, schema: dict, v: str, indent: str) -> list[str]:
        properties = schema.get("properties", {})
        lines = []
        required = list(schema.get("required", ()))
        if required:
            lines.append(f"{indent}if not {v}.keys() >= {self.const(frozenset(required))}: return False")
        for name, sub in properties.items():
            x = self.var()
            inner = self.schema(sub, x, indent + "    ")
            if inner:
                lines += [f"{indent}{x} = {v}.get({self.const(name)}, _MISSING)", f"{indent}if {x} is not _MISSING:"]
                lines += inner
        extra = schema.get("additionalProperties", True)
        known = self.const(frozenset(properties))
        if extra is False:
            lines.append(f"{indent}if not {v}.keys() <= {known}: return False")
        elif extra is not True:
            key, x = self.var(), self.var()
            inner = self.schema(extra, x, indent + "        ")
            if inner:
                lines += [f"{indent}for {key}, {x} in {v}.items():", f"{indent}    if {key} not in {known}:", *inner]
        return lines

    def _arrays(self, schema: dict, v: str, indent: str) -> list[str]:
        lines = self._lengths(schema, "minItems", "maxItems", v, indent)
        if "items" in schema:
            x = self.var()
            inner = self.schema(schema["items"], x, indent + "    ")
            if inner:
                lines += [f"{indent}for {x} in {v}:", *inner]
        return lines
