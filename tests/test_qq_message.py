"""OneBot v11 message formats and events, read by the QQ adapter (pure functions, no peer needed)."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.base import AdapterStartError
from bot.adapters.qq.adapter import QQAdapter
from bot.adapters.qq.config import ForwardConnection, QQConfig
from bot.adapters.qq.events import MalformedEvent, to_event
from bot.adapters.qq.message import MalformedMessage, outgoing, parse_cq, read, segments_of, to_cq
from bot.config import load_config


def test_cq_codes_unescape_text_and_parameters():
    segments = parse_cq("[CQ:reply,id=7][CQ:at,qq=123] 签到 &#91;ok&#93; &amp; [CQ:image,file=a.jpg,url=http://h/?a=1&#44;b=2]")
    assert segments == [
        {"type": "reply", "data": {"id": "7"}}, {"type": "at", "data": {"qq": "123"}},
        {"type": "text", "data": {"text": " 签到 [ok] & "}},
        {"type": "image", "data": {"file": "a.jpg", "url": "http://h/?a=1,b=2"}},
    ]
    assert parse_cq(to_cq(segments)) == segments


def test_reading_a_message():
    reading = read(segments_of([{"type": "at", "data": {"qq": "all"}}, {"type": "text", "data": {"text": " hi "}},
                                {"type": "redbag", "data": {"title": "恭喜发财"}}]))
    assert (reading.text, reading.kind, reading.mentions, reading.reply_to) == ("hi", "red_packet", (), None)
    assert read(parse_cq("[CQ:file,file=x.pdf]")).kind == "file"
    assert read(parse_cq("[CQ:file,file=x.pdf]")).files == ()  # no download link: nothing to fetch
    fetchable = read(parse_cq("[CQ:file,file=讲义.pdf,file_id=f1,url=https://h/f1]讲义[CQ:image,file=a.jpg,url=http://h/a]"))
    assert (fetchable.files, fetchable.images, fetchable.text) == ((("讲义.pdf", "https://h/f1"),), ("http://h/a",), "讲义")
    with pytest.raises(MalformedMessage):
        segments_of({"type": "text"})


def test_outgoing_puts_reply_and_at_before_the_text():
    assert outgoing("好", ("9",), "5") == [{"type": "reply", "data": {"id": "5"}}, {"type": "at", "data": {"qq": "9"}},
                                          {"type": "text", "data": {"text": " 好"}}]


def test_events_without_what_they_need_are_malformed():
    with pytest.raises(MalformedEvent):
        to_event({"post_type": "request", "request_type": "group", "group_id": 1, "user_id": 2})
    assert to_event({"post_type": "message", "message_type": "private", "user_id": 2, "message": "x"}) is None
    left = to_event({"post_type": "notice", "notice_type": "group_decrease", "sub_type": "leave", "group_id": 1,
                     "user_id": 2, "self_id": 3, "time": 1700000000})
    assert (left.name, left.group, left.user) == ("member_left", "1", "2")


def test_a_group_card_change_is_a_rename():
    renamed = to_event({"post_type": "notice", "notice_type": "group_card", "group_id": 1, "user_id": 2, "self_id": 3,
                        "card_new": "上海-电商-小王", "card_old": "小王", "time": 1700000000})
    assert (renamed.name, renamed.group, renamed.user, renamed.user_name) == ("member_renamed", "1", "2", "上海-电商-小王")


def test_a_missing_token_variable_stops_the_start():
    adapter = QQAdapter(QQConfig(forward=[ForwardConnection(url="ws://127.0.0.1:1")], token_env="NO_SUCH_VAR"), {})
    with pytest.raises(AdapterStartError, match="NO_SUCH_VAR"):
        asyncio.run(adapter.run(None))


def test_an_unreachable_implementation_stops_the_start(unused_tcp_port):
    adapter = QQAdapter(QQConfig(forward=[ForwardConnection(url=f"ws://127.0.0.1:{unused_tcp_port}")]), {})
    with pytest.raises(AdapterStartError, match="cannot connect"):
        asyncio.run(adapter.run(None))


def test_config_section(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('adapters = ["qq"]\n[qq]\ntoken_env = "T"\n[[qq.forward]]\nurl = "ws://127.0.0.1:3001"\n', encoding="utf-8")
    config, errors = load_config(path)
    assert errors == [] and config.qq.forward[0].url == "ws://127.0.0.1:3001"
    path.write_text('[qq]\ntoken = "x"\n', encoding="utf-8")
    assert [str(e) for e in load_config(path)[1]] == ["config.toml: qq.token: unknown key"]
    path.write_text("[qq]\n", encoding="utf-8")
    assert "needs at least one" in str(load_config(path)[1][0])
