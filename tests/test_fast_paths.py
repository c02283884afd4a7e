"""Shortcuts taken for speed on every message agree with the plain readings they stand for (hypothesis)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.qq import events
from bot.adapters.qq.events import _time, decode, to_event
from bot.adapters.qq.message import MalformedMessage, read, segments_of
from bot.deal_intent import announces_deal, classify
from bot.model import MessageReceived
from plugins.idiom_chain import IdiomState, _is_answer_shaped
from plugins.red_packet import RedPacketRules

CASES = settings(max_examples=300, deadline=None)
AT = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


deal_texts = st.text(alphabet="签单成交开出爆没未不有能了吗我他 \n\t好的a-]^\\！？，１", max_size=12)
deal_words = st.lists(st.text(alphabet="签单成交开出爆-]^\\！１", max_size=3), max_size=5)


@CASES
@given(deal_texts, deal_words)
def test_the_first_character_shortcut_decides_deals_as_the_plain_reading(text, words):
    assert announces_deal(text, words) == classify(text, words).deal
    shipped = RedPacketRules().deal_keywords
    assert announces_deal(text, shipped) == classify(text, shipped).deal


@CASES
@given(st.text(alphabet="成语接龙一丁\u4dff\u9fff\ua000 a\t", max_size=7))
def test_answer_shape_is_four_cjk_characters_once_trimmed(text):
    event = MessageReceived(at=AT, group="g1", user="u1", text=text)
    trimmed = text.strip()
    shaped = len(trimmed) == 4 and all("\u4e00" <= c <= "\u9fff" for c in trimmed)
    state = IdiomState()
    assert _is_answer_shaped(event, None, state, "qq:g1") == shaped  # not looked up yet: a game may run
    state.playing["qq:g1"] = True
    assert _is_answer_shaped(event, None, state, "qq:g1") == shaped
    state.playing["qq:g1"] = False
    assert not _is_answer_shaped(event, None, state, "qq:g1")  # no game running in the group


def _segments_plainly(message) -> list[dict]:
    if isinstance(message, list) and all(isinstance(s, dict) and isinstance(s.get("type"), str) for s in message):
        if any(not isinstance(s.get("data") or {}, dict) for s in message):
            raise MalformedMessage("a segment's data is not an object")
        return [{"type": s["type"], "data": s.get("data") or {}} for s in message]
    raise MalformedMessage(f"message is neither a CQ-code string nor a segment list: {type(message).__name__}")


loose = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
segment = st.fixed_dictionaries({}, optional={"type": st.sampled_from(["text", "at"]) | loose,
                                              "data": st.dictionaries(st.sampled_from(["text", "qq"]), loose, max_size=2) | loose})


@CASES
@given(st.lists(segment | loose, max_size=4))
def test_segment_lists_are_checked_and_copied_as_the_plain_reading(message):
    try:
        expected = _segments_plainly(message)
    except MalformedMessage as exc:
        try:
            segments_of(message)
        except MalformedMessage as again:
            assert str(again) == str(exc)  # the same refusal, the same reason
            return
        raise AssertionError("accepted what the plain reading refuses")
    assert segments_of(message) == expected


@given(st.integers(min_value=1, max_value=253_402_300_798) | st.floats(min_value=1, max_value=2e9))
def test_event_times_are_those_of_fromtimestamp(stamp):
    assert _time({"time": stamp}) == datetime.fromtimestamp(stamp, timezone.utc)


def test_numeric_and_textual_ids_read_alike():
    raw = {"post_type": "message", "message_type": "group", "group_id": 7, "user_id": 8, "message_id": 9, "time": 1_795_400_000,
           "message": [{"type": "text", "data": {"text": "好"}}], "sender": {"card": "小王", "role": "admin"}}
    textual = {**raw, "group_id": "7", "user_id": "8", "message_id": "9"}
    assert to_event(raw) == to_event(textual)
    assert to_event(raw) == MessageReceived(at=datetime.fromtimestamp(1_795_400_000, timezone.utc), platform="qq", group="7",
                                            user="8", name="小王", role="admin", id="9", text="好")


long_ids = st.integers(min_value=1, max_value=10**10) | st.text(max_size=3) | st.text(min_size=199, max_size=202)
segments = st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "at", "reply", "image", "redbag"]), "data": st.fixed_dictionaries(
    {}, optional={"text": st.text(max_size=5), "qq": long_ids, "id": long_ids})}), max_size=3)
payloads = st.fixed_dictionaries({
    "post_type": st.just("message"), "message_type": st.just("group"), "group_id": long_ids, "user_id": long_ids,
    "message_id": long_ids, "time": st.integers(min_value=1, max_value=2 * 10**9), "message": segments,
    "sender": st.fixed_dictionaries({}, optional={"role": st.sampled_from(["owner", "admin", "member", "x"]),
                                                  "card": st.text(max_size=3) | st.text(min_size=199, max_size=202)}),
})


def _read_or_refusal(raw):
    try:
        return to_event(raw)
    except Exception as exc:  # the refusal itself is compared: its type and message
        return type(exc), str(exc)


@CASES
@given(payloads)
def test_messages_read_through_the_shortcut_are_those_of_the_plain_reading(raw):
    fast = _read_or_refusal(raw)
    original, events._reading = events._reading, lambda message: read(segments_of(message))
    try:
        plain = _read_or_refusal(raw)
    finally:
        events._reading = original
    assert fast == plain and repr(fast) == repr(plain)
    if isinstance(fast, MessageReceived):
        assert fast.__pydantic_fields_set__ == plain.__pydantic_fields_set__ and hash(fast) == hash(plain)


def _reading_or_refusal(reader, message):
    try:
        return reader(message)
    except MalformedMessage as exc:
        return type(exc), str(exc)


one_segment = st.lists(st.fixed_dictionaries({"type": st.just("text") | loose}, optional={
    "data": st.fixed_dictionaries({}, optional={"text": st.text(" \t\n好a", max_size=4) | loose, "qq": loose}) | loose}),
    min_size=1, max_size=1)


@CASES
@given(one_segment)
def test_a_lone_text_segment_reads_as_the_plain_reading(message):
    assert _reading_or_refusal(events._reading, message) == _reading_or_refusal(lambda m: read(segments_of(m)), message)


@CASES
@given(st.lists(segment | loose, max_size=3) | loose)
def test_other_messages_read_as_the_plain_reading(message):
    assert _reading_or_refusal(events._reading, message) == _reading_or_refusal(lambda m: read(segments_of(m)), message)


def _shape(value):
    """A decoded value with every type spelled out: 1 and 1.0 and True differ, key order counts, NaN equals NaN."""
    if isinstance(value, dict):
        return ("dict", [(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_shape(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def _decoded_or_refusal(decoder, frame):
    try:
        return _shape(decoder(frame))
    except (ValueError, RecursionError) as exc:  # what json.loads raises for what is not JSON
        return type(exc), str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)
# Text near JSON: odd numbers, escapes (lone surrogates among them), duplicate keys, stray characters.
json_pieces = st.sampled_from(['{"a":', '"a"', ",", "}", "[", "]", "1", "-0", "01", "1e400", "1.5E-3", "9" * 25, ".5",
                               "NaN", "Infinity", '"\\ud800"', '"\\udc00\\ud83d"', '"\\ud83d\\ude00"', '"\\u00e9"',
                               '"\\x"', "\ud800", "\t", " ", "\ufeff", "true", "null", ":", '"\\/"', "é"])
near_json = st.lists(json_pieces, max_size=12).map("".join)
float_literals = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?\Z")


@settings(max_examples=1000, deadline=None)
@given(json_values.map(json.dumps) | json_values.map(lambda v: json.dumps(v, ensure_ascii=False)) | near_json | float_literals
       | st.text(max_size=12))
def test_frames_decode_as_the_standard_library_decodes_them(frame):
    assert _decoded_or_refusal(decode, frame) == _decoded_or_refusal(json.loads, frame)
    as_bytes = frame.encode("utf-16", "surrogatepass")
    assert _decoded_or_refusal(decode, as_bytes) == _decoded_or_refusal(json.loads, as_bytes)


def test_frames_the_fast_parser_refuses_are_read_by_the_standard_library():
    deep = "[" * 400 + "]" * 400
    for frame in ('{"text":"\\ud800"}', '{"text":"\ud800"}', deep, '{"a":1,"a":2}', "9" * 4301):
        assert _decoded_or_refusal(decode, frame) == _decoded_or_refusal(json.loads, frame)
