"""The boolean-group parser, without a database: any text is a group or a 400, never another error,
and any group written out (values quoted where they must be) parses back to itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from engine.http.query import parse_filter
from engine.http.query_power import MAX_DEPTH, parse_boolean
from engine.kernel.errors import Problem
from engine.spec import load_spec
from engine.sql.boolean import BoolGroup
from engine.sql.queries import Filter

ITEMS = load_spec(str(Path(__file__).parent / "specs" / "catalog" / "resources.yaml")).resources["items"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def groups(draw, depth: int = 1) -> tuple[BoolGroup, str]:
    op = draw(st.sampled_from(["or", "and", "not"]))
    terms, texts = [], []
    for _ in range(draw(st.integers(1, 3))):
        if depth < MAX_DEPTH and draw(st.booleans()):
            group, text = draw(groups(depth + 1))
            terms.append(group)
            texts.append(text)
        elif draw(st.booleans()):
            value = draw(TEXT)
            terms.append(Filter("title", "eq", value))
            texts.append(f"title={quoted(value)}")
        else:
            value = draw(st.integers(-(2**40), 2**40))
            terms.append(Filter("code", "gt", value))
            texts.append(f"code[gt]={value}")
    return BoolGroup(op, tuple(terms)), f"{op}=(" + ",".join(texts) + ")"


@settings(max_examples=300, deadline=None)
@given(groups())
def test_a_written_group_parses_back_to_itself(drawn):
    group, text = drawn
    name, _, value = text.partition("=")
    assert parse_boolean(ITEMS, MultiDict([(name, value)]), parse_filter) == (group,)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["or", "and", "not"]), st.text(alphabet='()=,"\\[]abcodetilnr1x ', max_size=60))
def test_any_text_is_a_group_or_a_400(name, value):
    try:
        parse_boolean(ITEMS, MultiDict([(name, value)]), parse_filter)
    except Problem as problem:
        assert problem.status == 400 and problem.extra["parameter"] == name


def test_a_value_with_a_quote_outside_quotes_is_refused():
    with pytest.raises(Problem, match="double quotes"):
        parse_boolean(ITEMS, MultiDict([("or", '(title=a"b)')]), parse_filter)
