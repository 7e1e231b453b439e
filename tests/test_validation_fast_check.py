"""The fast yes/no schema check agrees with jsonschema, which stays the authority on errors."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.resources.fast_check import compile_check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = Draft202012Validator.FORMAT_CHECKER


def _load(name: str) -> dict:
    with open(os.path.join(ROOT, "schemas", name), encoding="utf-8") as fh:
        return json.load(fh)


SCHEMAS = {name: _load(name) for name in sorted(os.listdir(os.path.join(ROOT, "schemas"))) if name.endswith(".json")}
EDGES = {
    "type": "object",
    "additionalProperties": {"type": ["integer", "null"]},
    "required": ["n"],
    "properties": {
        "n": {"type": "integer", "exclusiveMinimum": 0, "maximum": 10},
        "s": {"type": "string", "pattern": "^a+$", "format": "uuid"},
        "e": {"enum": [1, "1", True, None, [1], {"a": 1}]},
        "c": {"const": 0},
        "l": {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": -1}},
    },
}

keys = st.sampled_from(
    ["n", "s", "e", "c", "l", "x", "id", "name", "status", "parameters", "tools", "role", "email", "description"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 12)
    | st.sampled_from([0.0, 1.0, 2.5, -1.5, 1e300])
    | st.sampled_from(["", "a", "aa", "active", "draft", "owner", "x@y.z", "7f3c0c4e-0b1a-4c55-9a49-6f3b2f2b9c1d"])
    | st.text(max_size=3)
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
documents = st.dictionaries(keys, values, max_size=6)


def agree(schema: dict, document: dict) -> None:
    check = compile_check(schema, FORMATS)
    assert check is not None
    errors = list(Draft202012Validator(schema, format_checker=FORMATS).iter_errors(document))
    assert check(document) == (not errors), (document, [e.message for e in errors])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SCHEMAS)), documents)
def test_the_fast_check_agrees_with_jsonschema_on_the_example_schemas(name, document):
    agree(SCHEMAS[name], document)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_the_fast_check_agrees_with_jsonschema_on_edge_keywords(document):
    agree(EDGES, document)


def test_a_schema_with_a_keyword_it_does_not_check_gets_no_fast_check():
    assert compile_check({"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}, FORMATS) is None
    assert compile_check({"oneOf": [{"type": "string"}]}, FORMATS) is None
    assert compile_check({"items": [{"type": "string"}]}, FORMATS) is None


UNTYPED = {  # keyword groups without a type: each applies to its own kind of value only
    "properties": {
        "n": {"minimum": 0, "exclusiveMaximum": 10, "minLength": 1, "maxItems": 2, "required": ["a"]},
        "s": {"pattern": "^a", "maxLength": 2, "items": {"enum": ["a", 1]}, "additionalProperties": False},
        "e": {"enum": ["draft", "active"]},
        "l": {"type": ["array", "string"], "minItems": 1, "minLength": 2, "items": {"const": 1}},
    },
    "additionalProperties": {"properties": {"x": {"type": "boolean"}}},
}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_the_fast_check_agrees_with_jsonschema_on_keywords_without_a_type(document):
    agree(UNTYPED, document)


def test_a_schema_nested_deeper_than_python_blocks_allow_still_gets_a_check_that_agrees():
    schema: dict = {"type": "string"}
    for _ in range(25):  # 25 nested loops: more than Python compiles in one function
        schema = {"type": "array", "items": schema}
    document: list = ["a"]
    for _ in range(24):
        document = [document]
    agree(schema, document)
    agree(schema, [[1]])
