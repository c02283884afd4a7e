"""Where MemberJoined.inviter comes from on each platform (the invites plugin credits it): QQ's operator of
an invite (not the admin who approved a request), Telegram's adder or the creator of the invite link
(not the primary link, not an approved request), WeChat's inviterId, QQ official's op_member_openid."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from telegram import Chat, ChatInviteLink, ChatMemberLeft, ChatMemberMember, ChatMemberUpdated, User

from bot.adapters.qq.events import to_event as qq_event
from bot.adapters.qq_official.events import Dispatch, to_event as official_event
from bot.adapters.telegram.events import inviter_of
from bot.adapters.wechat.events import room_change

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
BOT = 666


@pytest.mark.parametrize("sub_type, inviter", [("invite", "1002"), ("approve", None)])
def test_qq_operator_is_the_inviter_of_an_invite_only(sub_type, inviter):
    event = qq_event({"post_type": "notice", "notice_type": "group_increase", "sub_type": sub_type, "time": 1_790_000_000,
                      "self_id": 10000, "group_id": 700001, "user_id": 1009, "operator_id": 1002})
    assert event.inviter == inviter


def _change(who: User, by: User, link: ChatInviteLink | None = None, via_request: bool = False) -> ChatMemberUpdated:
    return ChatMemberUpdated(Chat(-100, "supergroup"), by, NOW, ChatMemberLeft(who), ChatMemberMember(who), invite_link=link,
                             via_join_request=via_request)


def _link(creator: User, primary: bool) -> ChatInviteLink:
    return ChatInviteLink("https://t.me/+abc", creator, creates_join_request=False, is_primary=primary, is_revoked=False)


def test_telegram_adder_and_link_creator():
    newcomer, friend, admin, bot = (User(i, n, False) for i, n in ((301, "new"), (302, "friend"), (201, "admin"), (BOT, "bot")))
    assert inviter_of(_change(newcomer, friend), BOT) == "302"  # added by a member
    assert inviter_of(_change(newcomer, newcomer), BOT) is None  # came by themselves
    assert inviter_of(_change(newcomer, newcomer, _link(friend, primary=False)), BOT) == "302"  # the friend's link
    assert inviter_of(_change(newcomer, newcomer, _link(admin, primary=True)), BOT) is None  # the group's public link
    assert inviter_of(_change(newcomer, admin, via_request=True), BOT) is None  # an admin approved a request
    assert inviter_of(_change(newcomer, newcomer, _link(bot, primary=False)), BOT) is None


def test_wechat_inviter_id():
    assert room_change({"roomId": "r1", "inviteeIdList": ["w2"], "inviterId": "w1", "timestamp": 1_790_000_000},
                       "inviteeIdList")[3] == "w1"


def test_qq_official_op_member():
    data = {"group_openid": "G1", "member_openid": "M2", "op_member_openid": "M1", "timestamp": 1_790_000_000}
    assert official_event(Dispatch("GROUP_MEMBER_ADD", data)).inviter == "M1"
    assert official_event(Dispatch("GROUP_MEMBER_ADD", {**data, "op_member_openid": "M2"})).inviter is None
