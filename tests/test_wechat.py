"""The WeChat adapter end to end: the real adapter (puppet-service gRPC) against wechaty-puppet-service
1.19.9's PuppetServer over wechaty-puppet-mock 1.19.4, started on loopback by each test through our
gateway in tests/wechat_peer (see its gateway.js)."""

from __future__ import annotations

import logging

import pytest

from bot.model import MemberJoined, MemberLeft, MessageReceived, SendMessage
from tests.telegram_harness import eventually
from tests.wechat_harness import ADMIN, BOT, FOREIGN, MEMBER, OTHER, OWNED, OWNER, Gateway, running_bot

MENTION_END = "\u2005"


@pytest.fixture
def gateway(tmp_path):
    g = Gateway(tmp_path)
    yield g
    g.stop()


async def replies(gateway: Gateway, room: str, count: int = 1, timeout: float = 20.0):
    return await eventually(lambda: (s := gateway.sent(room)) and len(s) >= count and s, f"{count} message(s) from the bot", timeout)


async def test_checkin_gets_a_reply_that_mentions_the_member(gateway, tmp_path, extra_plugin):
    async with running_bot(gateway, tmp_path, extra_plugin):
        gateway.say(OWNED, MEMBER, "签到")
        [reply] = await replies(gateway, OWNED)
    assert reply["mentionIdList"] == [MEMBER]
    assert reply["text"].startswith(f"@小王{MENTION_END}") and "签到成功" in reply["text"]


async def test_a_newcomer_gets_the_welcome_and_the_join_names_the_inviter(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen):
        gateway.join(OWNED, ["wxid_newbie"], inviter=OTHER)
        [welcome] = await replies(gateway, OWNED)
    assert welcome["mentionIdList"] == ["wxid_newbie"]
    assert welcome["text"] == f"@新人{MENTION_END}欢迎新朋友！"
    [joined] = [e for e in seen if isinstance(e, MemberJoined)]
    assert (joined.group, joined.user, joined.user_name, joined.inviter) == (OWNED, "wxid_newbie", "新人", OTHER)


async def test_ads_in_a_room_the_bot_owns_end_in_a_removal_after_two_warnings(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen):
        for n in range(3):
            gateway.say(OWNED, MEMBER, f"便宜好货 加我微信 {n}")
        await eventually(lambda: gateway.calls("roomDel"), "the removal")
        await eventually(lambda: any(isinstance(e, MemberLeft) for e in seen), "the member's leave event")
    warnings = gateway.sent(OWNED)
    assert len(warnings) == 2 and all("请注意群规" in w["text"] and w["mentionIdList"] == [MEMBER] for w in warnings)
    assert gateway.calls("roomDel") == [{"roomId": OWNED, "contactId": MEMBER}]
    assert MEMBER not in gateway.room(OWNED)["memberIdList"]
    assert [(e.group, e.user) for e in seen if isinstance(e, MemberLeft)] == [(OWNED, MEMBER)]


async def test_ads_in_a_room_the_bot_does_not_own_get_warnings_and_the_owner_is_told(gateway, tmp_path, extra_plugin):
    async with running_bot(gateway, tmp_path, extra_plugin) as (engine, _):
        for n in range(3):
            gateway.say(FOREIGN, MEMBER, f"便宜好货 加我微信 {n}")
        sent = await replies(gateway, FOREIGN, 3)
        await engine.outbox.drain()
    assert gateway.calls("roomDel") == []
    assert [("请注意群规" in s["text"], s["mentionIdList"]) for s in sent[:2]] == [(True, [MEMBER])] * 2
    assert sent[2]["mentionIdList"] == [MEMBER, OWNER] and "请群主处理" in sent[2]["text"]
    assert sent[2]["text"].startswith(f"@小王{MENTION_END}@群主{MENTION_END}")
    assert MEMBER in gateway.room(FOREIGN)["memberIdList"]


async def test_the_bot_is_back_after_the_gateway_is_killed_and_restarted(gateway, tmp_path, extra_plugin):
    async with running_bot(gateway, tmp_path, extra_plugin):
        gateway.say(OWNED, MEMBER, "签到")
        await replies(gateway, OWNED)
        gateway.stop()
        gateway.start()  # a new process: the recorded calls start empty
        # The protocol loses events while no client listens: speak once the bot is back.
        await eventually(gateway.streams, "the bot's new event stream", timeout=15)
        gateway.say(OWNED, OTHER, "签到")
        [reply] = await replies(gateway, OWNED)
    assert reply["mentionIdList"] == [OTHER] and "签到成功" in reply["text"]


async def test_message_kinds_mentions_and_what_is_ignored(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen):
        gateway.say(OWNED, MEMBER, "@Qunbot @小李 你们好", mentions=[BOT["id"], OTHER])
        gateway.say(OWNED, MEMBER, "", type="Image")
        gateway.say(OWNED, MEMBER, "报价单.pdf", type="Attachment")
        gateway.say(OWNED, MEMBER, "好文推荐", type="Url")
        gateway.say(OWNED, MEMBER, "看这里 https://example.com")
        gateway.say(OWNED, MEMBER, "恭喜发财，大吉大利", type="RedEnvelope")
        gateway.say(OWNED, MEMBER, "", type="Recalled")
        gateway.say(None, MEMBER, "私聊你一下")  # a direct chat: ignored by default
        gateway.say(OWNED, OTHER, "done")
        await eventually(lambda: any(isinstance(e, MessageReceived) and e.user == OTHER for e in seen), "the last message")
    got = [(e.group, e.user, e.kind, e.text) for e in seen if isinstance(e, MessageReceived)]
    assert got == [(OWNED, MEMBER, "text", "@Qunbot @小李 你们好"), (OWNED, MEMBER, "image", ""),
                   (OWNED, MEMBER, "file", "报价单.pdf"), (OWNED, MEMBER, "link", "好文推荐"),
                   (OWNED, MEMBER, "link", "看这里 https://example.com"), (OWNED, MEMBER, "red_packet", "恭喜发财，大吉大利"),
                   (OWNED, OTHER, "text", "done")]
    assert seen[0].mentions == (BOT["id"], OTHER) and seen[0].user_name == "小王" and seen[0].role == "member"
    assert not [e for e in seen if getattr(e, "user", "") == BOT["id"]]  # the bot's own messages never come back


async def test_direct_chats_reach_plugins_when_asked_for(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen, wechat={"direct_chats": True}):
        gateway.say(None, MEMBER, "私聊 加我微信")
        [warning] = await replies(gateway, MEMBER)
    [dm] = seen
    assert (dm.group, dm.user, dm.user_name) == (MEMBER, MEMBER, "小王")
    assert warning["mentionIdList"] == [] and not warning["text"].startswith("@")  # nobody to mention in a direct chat


async def test_the_room_owner_is_owner_and_admins_come_from_config(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen, wechat={"admins": {OWNED: [ADMIN]}}):
        gateway.say(OWNED, MEMBER, "/set checkin base_points 5")
        [refused] = await replies(gateway, OWNED)
        gateway.say(OWNED, ADMIN, "/set checkin base_points 5")
        done = (await replies(gateway, OWNED, 2))[1]
        gateway.say(FOREIGN, OWNER, "大家好")
        await eventually(lambda: len(seen) >= 3, "three messages")
    assert "只有管理员可以使用" in refused["text"] and "设为 5" in done["text"]
    assert [e.role for e in seen] == ["member", "admin", "owner"]


async def test_a_removal_the_service_does_not_carry_out_is_reported(gateway, tmp_path, extra_plugin, caplog):
    gateway.inert("roomDel")
    async with running_bot(gateway, tmp_path, extra_plugin, wechat={"confirm_seconds": 1}) as (engine, _):
        for n in range(3):
            gateway.say(OWNED, MEMBER, f"加我微信 {n}")
        await eventually(lambda: gateway.calls("roomDel"), "the removal call")
        await replies(gateway, OWNED, 2)
        await engine.outbox.drain()
    assert MEMBER in gateway.room(OWNED)["memberIdList"]
    assert "could not deliver kick" in caplog.text and "still a member" in caplog.text


async def test_malformed_and_unknown_events_are_logged_and_skipped(gateway, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.INFO, logger="bot.adapters.wechat")
    async with running_bot(gateway, tmp_path, extra_plugin):
        gateway.emit("message", {"messageId": "no-such-message"})
        gateway.emit("room-join", {"roomId": OWNED})  # no invitees: nothing to report
        gateway.emit("room-leave", {"nothing": "here"})
        gateway.topic(OWNED, "新群名", by=ADMIN)
        gateway.say(OWNED, MEMBER, "签到")
        [reply] = await replies(gateway, OWNED)
    assert "签到成功" in reply["text"]
    assert "message event skipped" in caplog.text and "malformed room_leave event skipped" in caplog.text
    assert "renamed '机器人的群' -> '新群名'" in caplog.text


async def test_a_wrong_token_or_an_unreachable_service_stops_the_start_with_one_line(gateway):
    from bot.adapters.base import AdapterStartError
    from bot.adapters.wechat.adapter import WechatAdapter
    from bot.adapters.wechat.config import WechatConfig
    from tests.telegram_harness import free_port

    wrong = WechatAdapter(WechatConfig(endpoint=gateway.endpoint), environ={"QUNBOT_WECHAT_TOKEN": "wrong-secret"})
    with pytest.raises(AdapterStartError, match="refused the token in QUNBOT_WECHAT_TOKEN") as refused:
        await wrong.connect()
    assert "wrong-secret" not in str(refused.value)
    nowhere = WechatAdapter(WechatConfig(endpoint=f"127.0.0.1:{free_port()}", call_timeout=3),
                            environ={"QUNBOT_WECHAT_TOKEN": "x"})
    with pytest.raises(AdapterStartError, match="cannot reach the puppet service"):
        await nowhere.connect()
    with pytest.raises(AdapterStartError, match="QUNBOT_WECHAT_TOKEN"):
        WechatAdapter(WechatConfig(), environ={})


async def test_sends_across_rooms_are_paced_for_the_whole_account(gateway, tmp_path, extra_plugin, monkeypatch):
    import bot.adapters.wechat.actions

    # The real window is a minute; a shorter one exercises the same code without a minute-long test.
    monkeypatch.setattr(bot.adapters.wechat.actions, "ACCOUNT_WINDOW_SECONDS", 2.0)
    fast_outbox = {"per_group_per_minute": 100, "per_second": 100}
    async with running_bot(gateway, tmp_path, extra_plugin, wechat={"account_per_minute": 3},
                           outbox={"wechat": fast_outbox}) as (engine, _):
        engine.outbox.submit([SendMessage(platform="wechat", group=room, text=f"{room} 第 {i} 条")
                              for i in range(4) for room in (OWNED, FOREIGN)])
        await engine.outbox.drain()
    sent = gateway.calls("messageSendText", timed=True)
    assert [s["text"] for s in sent if s["conversationId"] == OWNED] == [f"{OWNED} 第 {i} 条" for i in range(4)]
    assert len(sent) == 8
    for first, later in zip(sent, sent[3:]):
        assert later["at"] - first["at"] >= 2000 - 100, "more than the account's limit within one window"


def test_the_example_config_wechat_section_is_valid_once_uncommented():
    import tomllib

    from bot.config import QunbotConfig
    from tests.conftest import ROOT

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [wechat]")
    section = text[start:text.index("\n\n", start)]  # up to the blank line that ends it
    body = "\n".join(line.removeprefix("# ") for line in section.splitlines() if line.startswith("# ") and "WeChat cannot" not in line)
    config = QunbotConfig.model_validate({"adapters": ["wechat"], **tomllib.loads(body)})
    assert config.wechat.token_env == "QUNBOT_WECHAT_TOKEN" and config.wechat.admins["*"] == ["wxid_operator"]


def test_only_the_wechat_package_imports_grpc_and_protobuf():
    import re

    from tests.conftest import ROOT

    pattern = re.compile(r"^\s*(from|import)\s+(grpc|google\.protobuf)\b", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for folder in ("bot", "plugins") for p in (ROOT / folder).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8")) and "adapters/wechat" not in p.as_posix()]
    assert offenders == []


def test_replay_plans_wechat_fallbacks_and_a_removal_fallback_mentions_the_owner():
    from bot.model import KickMember, MuteMember
    from bot.outbox import plan
    from bot.templates import Templates

    t = Templates()
    kick = KickMember(platform="wechat", group="r@chatroom", user="u7", plugin="anti_ad", reason="third")
    [warning] = plan(kick, frozenset({"send"}), t, owner="boss")
    assert warning.mentions == ("u7", "boss") and warning.reason == "third"
    assert plan(kick, frozenset({"send", "kick"}), t, owner="boss") == [kick]
    [mute] = plan(MuteMember(platform="wechat", group="r@chatroom", user="u7", seconds=600), frozenset({"send"}), t)
    assert mute.name == "send" and mute.mentions == ("u7",) and "10 分钟" in mute.text


async def test_a_gateway_that_hangs_is_noticed_by_the_ding_and_the_bot_comes_back(gateway, tmp_path, extra_plugin, caplog):
    import os
    import signal

    async with running_bot(gateway, tmp_path, extra_plugin, wechat={"idle_seconds": 1, "call_timeout": 2}):
        os.kill(gateway.proc.pid, signal.SIGSTOP)  # the connection stays open, nothing answers
        try:
            await eventually(lambda: "the ding failed" in caplog.text, "the failed ding")
        finally:
            os.kill(gateway.proc.pid, signal.SIGCONT)
        await eventually(lambda: gateway.streams() >= 2, "the bot's second event stream")
        gateway.say(OWNED, MEMBER, "签到")
        [reply] = await replies(gateway, OWNED)
    assert "签到成功" in reply["text"]
