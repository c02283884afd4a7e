"""The TOML writer behind /config and /set answers: whatever it writes, tomllib reads back as the same value."""

import math
import tomllib
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.tomlvalue import toml_key, toml_string, toml_value


def read_back(value):
    return tomllib.loads(f"v = {toml_value(value)}")["v"]


offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
scalars = (
    st.text()  # any code point hypothesis makes: control characters, quotes, backslashes, CJK, emoji
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # TOML's integer range
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.dates()
    | st.times()
    | st.datetimes()
    | st.datetimes(timezones=offsets)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(values)
@example({"0\n": ""})  # a key that a bare-key test with `$` let through: $ matches before a final newline
def test_any_rule_value_reads_back_the_same(value):
    assert read_back(value) == value


@settings(max_examples=200, deadline=None)
@given(st.text())
@example("a\n")
def test_any_text_is_one_line_and_reads_back(text):
    written = toml_string(text)
    assert "\n" not in written and "\r" not in written
    assert tomllib.loads(f"v = {written}")["v"] == text
    assert tomllib.loads(f"{toml_key(text)} = 1") == {text: 1}


def test_the_forms_an_owner_reads():
    assert toml_value(10) == "10"
    assert toml_value(True) == "true" and toml_value(False) == "false"
    assert toml_value("公众号") == '"公众号"'
    assert toml_value('say "hi"\\\n\t\x00\x7f') == r'"say \"hi\"\\\n\t\u0000\u007F"'
    assert toml_value(0.6) == "0.6" and toml_value(1e300) == "1e+300" and toml_value(2.0) == "2.0"
    assert toml_value(date(2026, 12, 24)) == "2026-12-24" and toml_value(time(8, 0)) == "08:00:00"
    assert toml_value([{"ask": "?", "keywords": ["公众号"]}]) == '[{ ask = "?", keywords = ["公众号"] }]'
    assert toml_value({}) == "{}" and toml_value([]) == "[]"
    assert toml_value({"a b": 1, "dé": 2, date(2026, 12, 24): "x"}) == '{ "a b" = 1, "dé" = 2, 2026-12-24 = "x" }'
    assert toml_value({"set": None, "kept": 1}) == "{ kept = 1 }"  # TOML has no null: an unset key is left out


def test_floats_that_are_not_numbers_and_sub_models():
    from pydantic import BaseModel

    class Sub(BaseModel):
        name: str = "x"
        at: date = date(2026, 1, 1)
        skip: int | None = None

    assert math.isnan(read_back(float("nan")))
    assert read_back(float("-inf")) == float("-inf")
    assert read_back(Sub()) == {"name": "x", "at": date(2026, 1, 1)}
    assert read_back((1, 2)) == [1, 2] and read_back(frozenset({"b", "a"})) == ["a", "b"]


def test_what_toml_cannot_hold_is_an_error_not_a_wrong_text():
    for value in (None, [None], time(8, 0, tzinfo=timezone.utc), object(),
                  datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30)))):
        with pytest.raises(TypeError):
            toml_value(value)
