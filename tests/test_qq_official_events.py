"""Dispatch payloads of the QQ Bot API v2 → neutral events (pure), and the passive-reply window."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.adapters.qq_official.events import Dispatch, MalformedEvent, dedupe_key, to_event
from bot.adapters.qq_official.window import Held, ReplyWindow


def message(kind="GROUP_MESSAGE_CREATE", **data):
    d = {"id": "ROBOT1.0_a", "content": " 签到 ", "group_openid": "G1", "timestamp": "2026-11-23T08:59:00+08:00",
         "author": {"member_openid": "M1", "member_role": "admin", "username": "小王"}}
    d.update(data)
    return Dispatch.of({"op": 0, "s": 3, "t": kind, "id": f"{kind}:x", "d": d})


def test_a_group_message_becomes_a_message_event():
    event = to_event(message())
    assert (event.platform, event.group, event.user, event.user_name, event.role, event.id, event.text, event.kind) == (
        "qq_official", "G1", "M1", "小王", "admin", "ROBOT1.0_a", "签到", "text")
    assert event.at == datetime(2026, 11, 23, 0, 59, tzinfo=timezone.utc)


def test_mentions_are_read_and_the_bot_itself_left_out():
    event = to_event(message(content="<@!M2> 你好 <@BOT>", mentions=[{"member_openid": "M3"}]), frozenset({"BOT"}))
    assert event.text == "你好" and event.mentions == ("M2", "M3")


def test_roles_and_attachments():
    assert to_event(message(author={"member_openid": "M1", "member_role": "superuser"})).role == "member"
    assert to_event(message(attachments=[{"content_type": "image/png", "url": "u"}])).kind == "image"
    assert to_event(message(attachments=[{"content_type": "file", "url": "u"}])).kind == "file"


def test_the_at_and_the_full_copy_of_one_message_share_a_key():
    assert dedupe_key(message("GROUP_AT_MESSAGE_CREATE")) == dedupe_key(message("GROUP_MESSAGE_CREATE"))


@pytest.mark.parametrize("broken", [{"group_openid": ""}, {"author": {}}, {"id": None}, {"author": "x"}])
def test_a_message_without_its_ids_is_malformed(broken):
    with pytest.raises(MalformedEvent):
        to_event(message(**broken))


def test_members_and_join_requests():
    joined = to_event(Dispatch.of({"t": "GROUP_MEMBER_ADD", "d": {"group_openid": "G1", "member_openid": "M9",
                                                                   "op_member_openid": "M1", "timestamp": 1700000000}}))
    assert (joined.name, joined.user, joined.inviter) == ("member_joined", "M9", "M1")
    left = to_event(Dispatch.of({"t": "GROUP_MEMBER_REMOVE", "d": {"group_openid": "G1", "member_openid": "M9"}}))
    assert left.name == "member_left"
    request = to_event(Dispatch.of({"t": "GROUP_JOIN_REQUEST", "d": {
        "group_openid": "G1", "member_openid": "M8", "join_request_id": "R1", "username": "申请人",
        "verify_info": {"verify_message": "你好", "review_qa_list": [{"question": "?", "answer": "公众号"}]}}}))
    assert (request.id, request.user, request.answer, request.user_name) == ("R1", "M8", "你好\n公众号", "申请人")
    assert to_event(Dispatch.of({"t": "GROUP_ADD_ROBOT", "d": {"group_openid": "G1"}})) is None


def test_the_window_answers_the_asked_message_then_the_newest_within_its_limits():
    now = [0.0]
    window = ReplyWindow(300, 2, clock=lambda: now[0])
    window.message("G", "m1")
    window.message("G", "m2")
    assert [window.take("G", "m1").fields for _ in range(3)] == [
        {"msg_id": "m1", "msg_seq": 1}, {"msg_id": "m1", "msg_seq": 2}, {"msg_id": "m2", "msg_seq": 1}]
    window.spent("G", "m2")
    assert window.take("G") is None
    window.event("G", "GROUP_ADD_ROBOT:1")
    assert window.take("G").fields == {"event_id": "GROUP_ADD_ROBOT:1"}
    now[0] = 301
    window.message("G", "m3")
    assert window.take("G", "m1").fields == {"msg_id": "m3", "msg_seq": 1}


def test_held_messages_come_back_in_order_and_the_stale_apart():
    now = [0.0]
    held = Held(1, clock=lambda: now[0])
    held.hold("G", "a")
    now[0] = 3000
    held.hold("G", "b")
    now[0] = 3700
    assert held.release("G") == (["b"], ["a"]) and len(held) == 0
