"""Keywords a resource's JSON Schema uses that no validator reads: most often a typo.

JSON Schema ignores a keyword it does not know, so `maxLenght` silently drops a limit and OpenAPI
3.0's `nullable` silently allows nothing. The loader reports each one, where it is, with the
keyword it probably meant, as a warning (`resource-engine check` prints it, `serve` logs it at
start): a schema may carry annotations of its own, named `x-...`, which are never reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

# Draft 2020-12's vocabularies (core, applicator, unevaluated, validation, meta-data, format,
# content), plus `definitions` (still a common home for `$ref` targets) and the keywords OpenAPI
# 3.1 adds to a Schema Object (the engine's API description carries these schemas).
KNOWN = frozenset(
    {
        *("$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment"),
        *("$defs", "definitions"),
        *("prefixItems", "items", "contains", "additionalProperties", "properties", "patternProperties"),
        *("dependentSchemas", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not"),
        *("unevaluatedItems", "unevaluatedProperties"),
        *("type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"),
        *("maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains"),
        *("maxProperties", "minProperties", "required", "dependentRequired"),
        *("title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples"),
        *("format", "contentEncoding", "contentMediaType", "contentSchema"),
        *("discriminator", "xml", "externalDocs", "example"),
    }
)
_SCHEMA = ("items", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else")
_SCHEMA += ("unevaluatedItems", "unevaluatedProperties", "contentSchema")
_SCHEMAS_BY_NAME = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")
_MEANT = {"nullable": 'a "null" in "type" (["string", "null"]): OpenAPI 3.0\'s nullable is not JSON Schema'}


def unknown_keywords(schema: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, message) for each keyword of `schema` and its subschemas that no validator reads."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in KNOWN and not key.startswith("x-"):
            yield (*path, key), _message(key)
        if key in _SCHEMA:
            yield from unknown_keywords(value, (*path, key))
        elif key in _SCHEMAS_BY_NAME and isinstance(value, dict):
            for name, subschema in value.items():
                yield from unknown_keywords(subschema, (*path, key, name))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, subschema in enumerate(value):
                yield from unknown_keywords(subschema, (*path, key, i))


def _message(key: str) -> str:
    if key in _MEANT:
        return f"{key!r} is not a JSON Schema keyword and is ignored; write {_MEANT[key]}"
    close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else "; name your own annotations x-..."
    return f"{key!r} is not a JSON Schema keyword: no validator reads it{hint}"
