"""The body parser's fast path (orjson) answers exactly what the strict parser answers."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.http.body import Shape, has_long_digits, parse_object, shape_of
from engine.kernel.errors import BadRequest

keys = st.text(alphabet=st.sampled_from('ab":\\ \t{}[],'), max_size=6)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | keys
)
documents = st.dictionaries(
    keys, st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
)


@given(documents, st.sampled_from([None, 2]))
def test_any_object_parses_to_what_the_standard_library_reads(document, indent):
    raw = json.dumps(document, indent=indent).encode()
    if any(len(digits) >= 19 for digits in raw.decode().split()):
        return  # big integers: covered by the integer range check in the API tests
    parsed, _depth = parse_object(raw)
    assert parsed == json.loads(raw)


@given(st.dictionaries(keys, scalars, min_size=1), st.data())
def test_a_key_given_twice_anywhere_is_refused(document, data):
    key = data.draw(st.sampled_from(sorted(document)))
    inner = json.dumps(document)[1:-1]
    twice = f"{json.dumps(key)}: 1, {inner}"
    for raw in (f"{{{twice}}}", f'{{"outer": {{{twice}}}}}', f'{{"list": [{{{twice}}}]}}'):
        with pytest.raises(BadRequest, match="duplicate key"):
            parse_object(raw.encode())


def test_depth_counts_the_levels_the_strict_parser_counted():
    assert parse_object(b'{"a": {"b": [1]}}')[1] == 4
    assert parse_object(b"{}")[1] == 1


def _counted(node, level: int = 1) -> Shape:
    """The shape by its definition, recursively."""
    container = isinstance(node, (dict, list))
    children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
    below = [_counted(child, level + 1) for child in children]
    return Shape(
        depth=max([level, *(b.depth for b in below)]),
        container_depth=max([level if container else 0, *(b.container_depth for b in below)]),
        keys=(len(node) if isinstance(node, dict) else 0) + sum(b.keys for b in below),
        longest_array=max(
            [len(node) if isinstance(node, list) and level > 1 else 0, *(b.longest_array for b in below)]
        ),
    )


@given(st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=3)))
def test_one_walk_measures_depth_keys_and_arrays_as_defined(document):
    assert shape_of(document) == _counted(document)


@given(st.text(alphabet="0123456789 ,-.e[]", max_size=60) | st.from_regex(r"\A[0-9 ,]{0,5}[0-9]{17,21}[ ,]?\Z"))
@example("1" * 19)
@example("[" + "9" * 18 + "]")
def test_a_run_of_nineteen_digits_is_found_as_the_regular_expression_finds_it(text):
    raw = text.encode()
    assert has_long_digits(raw) == (re.search(rb"[0-9]{19}", raw) is not None)


def test_a_second_read_of_the_body_is_parsed_afresh_not_the_document_a_handler_changed():
    """The input-limits middleware's parse goes to the handler once; a handler that changes its
    document (the owner filled in, relations popped) never hands that change to a later read."""
    from aiohttp.test_utils import make_mocked_request

    from engine.http.body import parsed_fast

    raw = b'{"name": "x"}'
    request = make_mocked_request("POST", "/api/agents")
    kept = parsed_fast(request, raw, keep=True)
    first = parsed_fast(request, raw)
    assert first is kept
    first[0]["name"] = "changed by the handler"
    assert parsed_fast(request, raw)[0] == {"name": "x"}
