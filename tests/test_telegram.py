"""The Telegram adapter end to end: the real adapter (python-telegram-bot) against telegram-test-api 4.2.1,
started on loopback by each test, through our wrapper in tests/telegram_peer (see its peer.js)."""

from __future__ import annotations

import pytest

from bot.model import JoinRequested, MemberJoined, MemberLeft, MessageReceived, SendMessage
from tests.telegram_harness import BOT, Peer, eventually, running_bot, user

G = -1001000000001
ADMIN, MEMBER, OTHER = 201, 301, 302
DEFAULTS = {"can_send_messages": True, "can_send_photos": False, "can_send_documents": True, "can_invite_users": True,
            "can_add_web_page_previews": False, "can_send_polls": True}


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


def group(peer: Peer, **kw) -> None:
    peer.chat(G, [{"user": user(ADMIN, "Ada"), "status": "administrator", "rights": {}},
                  {"user": user(MEMBER, "小王"), "status": "member"}, {"user": user(OTHER, "小李"), "status": "member"}],
              permissions=kw.pop("permissions", DEFAULTS), **kw)


async def replies(peer: Peer, count: int = 1, chat: int = G, timeout: float = 20.0):
    return await eventually(lambda: (s := peer.sent(chat)) and len(s) >= count and s, f"{count} message(s) from the bot", timeout)


async def test_checkin_gets_its_reply_in_the_group(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
        asked = peer.say(G, MEMBER, "签到")["result"]
        [reply] = await replies(peer)
        assert engine.bot_usernames["telegram"] == "QunbotTestBot"
    assert "签到成功" in reply["text"] and reply["reply_to"] == asked["message_id"]
    mention = [e for e in reply["entities"] if e["type"] == "text_mention"]
    assert mention and mention[0]["user"]["id"] == MEMBER and reply["text"].startswith("@小王")


async def test_admin_command_from_a_member_is_refused_and_roles_are_cached(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, MEMBER, "/set checkin base_points 5")
        [refused] = await replies(peer)
        peer.say(G, ADMIN, "/set@QunbotTestBot checkin base_points 5")
        done = (await replies(peer, 2))[1]
        peer.say(G, MEMBER, "签到")
        checked = (await replies(peer, 3))[2]
    assert "只有管理员可以使用" in refused["text"]
    assert "已把本群的 checkin.base_points 设为 5" in done["text"]
    assert "获得 5 积分" in checked["text"]
    assert len(peer.calls("getChatAdministrators")) == 1  # three messages, one lookup


async def test_a_change_of_status_refreshes_the_roles(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, MEMBER, "/set checkin base_points 5")
        await replies(peer)
        peer.post("/test/chat_member", chat_id=G, user=user(MEMBER, "小王"), old_status="member",
                  new_status="administrator", rights={"can_manage_chat": True})
        peer.say(G, MEMBER, "/set checkin base_points 5")
        [_, done] = await replies(peer, 2)
    assert "设为 5" in done["text"]
    assert len(peer.calls("getChatAdministrators")) == 2


async def test_join_requests_are_approved_or_declined_and_a_join_is_reported_once(peer, tmp_path, extra_plugin):
    group(peer)
    seen = []
    async with running_bot(peer, tmp_path, extra_plugin, seen) as (engine, _):
        peer.post("/test/join_request", chat_id=G, **{"from": user(401, "申请人")}, bio="从公众号来的")
        peer.post("/test/join_request", chat_id=G, **{"from": user(402, "广告")}, bio="加我微信")
        await eventually(lambda: all(s in ("approved", "declined") for s in peer.state(G)["requests"].values()), "both decisions")
        # The approval produces a chat_member update and a "joined" service message; then a later message.
        peer.say(G, 401, "大家好")
        await eventually(lambda: any(isinstance(e, MessageReceived) and e.user == "401" for e in seen), "the newcomer's message")
    assert peer.state(G)["requests"] == {"401": "approved", "402": "declined"}
    assert peer.state(G)["members"]["401"]["status"] == "member"
    requests = [e for e in seen if isinstance(e, JoinRequested)]
    assert [(e.user, e.answer, e.id) for e in requests] == [("401", "从公众号来的", "401"), ("402", "加我微信", "402")]
    assert [e.user for e in seen if isinstance(e, MemberJoined)] == ["401"]


async def test_mute_and_unmute_leave_the_default_permissions_as_they_were(peer, tmp_path, extra_plugin):
    group(peer)
    before = peer.state(G)["permissions"]
    assert before["can_send_documents"] and not before["can_send_photos"]
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, ADMIN, f"!mute {MEMBER} 600")
        await eventually(lambda: peer.state(G)["members"][str(MEMBER)]["status"] == "restricted", "the mute")
        assert peer.say(G, MEMBER, "还能说话吗")["status"] == 403
        peer.say(G, ADMIN, f"!mute {MEMBER} 0")
        await eventually(lambda: peer.state(G)["members"][str(MEMBER)]["status"] == "member", "the unmute")
        assert peer.say(G, MEMBER, "可以了")["status"] == 200
    assert peer.state(G)["permissions"] == before
    mute, unmute = peer.calls("restrictChatMember")
    assert not any(mute["params"]["permissions"].values()) and int(mute["params"]["until_date"]) > 0
    lifted = unmute["params"]["permissions"]
    assert {k: bool(lifted.get(k)) for k in before} == before  # the defaults, not "everything"


async def test_mute_all_restores_exactly_the_permissions_it_replaced(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        before = peer.state(G)["permissions"]
        peer.say(G, ADMIN, "!quiet on")
        await eventually(lambda: not any(peer.state(G)["permissions"].values()), "mute all")
        assert peer.say(G, MEMBER, "嘘")["status"] == 403
        peer.say(G, ADMIN, "!quiet on")  # a second "on" must not save the all-off permissions over the real ones
        peer.say(G, ADMIN, f"!mute {OTHER} 0")  # lifting someone's mute meanwhile restores the saved defaults
        await eventually(lambda: len(peer.calls("restrictChatMember")) == 1, "the unmute")
        peer.say(G, ADMIN, "!quiet off")
        await eventually(lambda: len(peer.calls("setChatPermissions")) >= 3, "the end of mute all")
        await eventually(lambda: peer.state(G)["permissions"] == before, "the restored permissions")
        assert peer.say(G, MEMBER, "早上好")["status"] == 200
    lifted = peer.calls("restrictChatMember")[0]["params"]["permissions"]
    assert all(bool(lifted.get(k)) == v for k, v in before.items())
    assert not (tmp_path / "perms.json").read_text().strip("{} \n")  # nothing left saved


async def test_a_429_waits_retry_after_and_the_message_arrives_once(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
        peer.post("/test/fail", method="sendMessage", times=1, retry_after=2)
        peer.say(G, MEMBER, "签到")
        await replies(peer)
        await engine.outbox.drain()
    sends = peer.calls("sendMessage")
    assert [c["answer"] for c in sends] == [429, 200]
    assert sends[1]["at"] - sends[0]["at"] >= 2000 - 50  # it waited what Telegram asked
    assert len([m for m in peer.sent(G) if "签到成功" in m["text"]]) == 1


async def test_posts_over_the_enforced_flood_limit_wait_and_arrive_once_in_order(peer, tmp_path, extra_plugin):
    G2 = G - 1
    group(peer)
    peer.chat(G2, [{"user": user(MEMBER, "小王"), "status": "member"}])
    # The peer enforces 2 posts a second over all chats; the bot is told it may send 20, so it meets 429s.
    assert peer.post("/test/limits", per_second=2)["result"] == {"per_second": 2, "per_chat_per_minute": 0}
    async with running_bot(peer, tmp_path, extra_plugin, outbox={"telegram": {"per_second": 20}}) as (engine, _):
        engine.outbox.submit([SendMessage(platform="telegram", group=str(chat), text=f"{chat} 第 {i} 条")
                              for i in range(3) for chat in (G, G2)])
        await engine.outbox.drain()
    answers = [c["answer"] for c in peer.calls("sendMessage")]
    assert 429 in answers and answers.count(200) == 6
    for chat in (G, G2):
        assert [m["text"] for m in peer.sent(chat)] == [f"{chat} 第 {i} 条" for i in range(3)]
    # Within any second the peer let at most two posts through.
    times = sorted(c["at"] for c in peer.calls("sendMessage") if c["answer"] == 200)
    assert all(later - first >= 1000 for first, later in zip(times, times[2:]))


async def test_words_too_long_for_a_caption_go_before_the_picture(peer, tmp_path, extra_plugin):
    group(peer)
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG a chart")
    long = "第一讲要点：" + "社群运营" * 300
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
        done = engine.outbox.submit([SendMessage(platform="telegram", group=str(G), text="看图", image=str(chart)),
                                     SendMessage(platform="telegram", group=str(G), text=long, image=str(chart))])
        assert await done
    sent = peer.sent(G)
    assert [(m["text"], bool(m.get("photo"))) for m in sent] == [("看图", True), (long, False), ("", True)]
    assert all(m["photo"][-1]["file_size"] == len(b"\x89PNG a chart") for m in sent if m.get("photo"))


async def test_a_burst_to_one_group_arrives_in_order_within_the_group_limit(peer, tmp_path, extra_plugin, monkeypatch):
    import bot.outbox

    # The real window is a minute; a shorter one exercises the same code without a minute-long test.
    monkeypatch.setattr(bot.outbox, "GROUP_WINDOW_SECONDS", 3.0)
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
        engine.outbox.submit([SendMessage(platform="telegram", group=str(G), text=f"第 {i} 条") for i in range(30)])
        await engine.outbox.drain()
    sent = peer.sent(G)
    assert [m["text"] for m in sent] == [f"第 {i} 条" for i in range(30)]
    limit = engine.config.limits("telegram").per_group_per_minute
    assert limit == 20
    for first, later in zip(sent, sent[limit:]):
        assert later["at"] - first["at"] >= 3000 - 100, "more than the per-group limit within one window"


async def test_text_is_escaped_for_the_html_parse_mode(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, MEMBER, '!echo <b>粗体</b> & "引号" a<b')
        [echo] = await replies(peer)
    assert echo["text"] == '@小王 <b>粗体</b> & "引号" a<b'
    assert [e["type"] for e in echo["entities"]] == ["text_mention"]


async def test_events_kinds_mentions_and_what_is_ignored(peer, tmp_path, extra_plugin):
    group(peer)
    seen = []
    async with running_bot(peer, tmp_path, extra_plugin, seen):
        peer.say(G, OTHER, "hi", **{"from": {**user(OTHER, "小李"), "username": "xiaoli"}})
        peer.post("/test/message", chat_id=G, **{"from": {"id": 999, "is_bot": True, "first_name": "OtherBot"}}, text="spam")
        peer.post("/test/message", chat_id=G, **{"from": {"id": 136817688, "is_bot": True, "first_name": "Channel"}},
                  sender_chat={"id": -1009, "type": "channel", "title": "频道"}, text="channel speaking")
        peer.post("/test/update", update={"channel_post": {"message_id": 1, "date": 1, "chat": {"id": -1009, "type": "channel"}, "text": "post"}})
        peer.say(G, MEMBER, "", photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}], caption="看图")
        peer.say(G, MEMBER, "", document={"file_id": "d", "file_unique_id": "d"})
        peer.say(G, MEMBER, "see https://example.com", entities=[{"type": "url", "offset": 4, "length": 19}])
        peer.say(G, MEMBER, "@xiaoli @QunbotTestBot 你好", entities=[{"type": "mention", "offset": 0, "length": 7},
                                                                    {"type": "mention", "offset": 8, "length": 14}])
        await eventually(lambda: len(seen) >= 5, "five messages")
    messages = [e for e in seen if isinstance(e, MessageReceived)]
    assert [(e.user, e.kind, e.text) for e in messages] == [
        (str(OTHER), "text", "hi"), (str(MEMBER), "image", "看图"), (str(MEMBER), "file", ""),
        (str(MEMBER), "link", "see https://example.com"), (str(MEMBER), "text", "@xiaoli @QunbotTestBot 你好")]
    assert messages[-1].mentions == (str(OTHER), str(BOT["id"]))
    assert messages[0].role == "member" and messages[0].user_name == "小李"


async def test_joins_and_leaves_from_service_messages_and_chat_member_updates(peer, tmp_path, extra_plugin):
    group(peer)
    seen = []
    async with running_bot(peer, tmp_path, extra_plugin, seen):
        newcomer = user(501, "新人")
        peer.post("/test/message", chat_id=G, **{"from": newcomer}, new_chat_members=[newcomer])
        peer.post("/test/chat_member", chat_id=G, user=newcomer, old_status="left", new_status="member")
        peer.post("/test/chat_member", chat_id=G, user=user(502, "老人"), old_status="member", new_status="left")
        peer.post("/test/message", chat_id=G, **{"from": user(502, "老人")}, left_chat_member=user(502, "老人"))
        peer.post("/test/message", chat_id=G, **{"from": user(ADMIN)}, new_chat_members=[{**BOT}])  # the bot itself added
        peer.say(G, MEMBER, "done")
        await eventually(lambda: any(isinstance(e, MessageReceived) for e in seen), "the last message")
    changes = [(type(e).__name__, e.user) for e in seen if isinstance(e, (MemberJoined, MemberLeft))]
    assert changes == [("MemberJoined", "501"), ("MemberLeft", "502")]


async def test_a_reply_in_a_forum_topic_stays_in_the_topic(peer, tmp_path, extra_plugin):
    group(peer, is_forum=True)
    seen = []
    async with running_bot(peer, tmp_path, extra_plugin, seen):
        asked = peer.say(G, MEMBER, "签到", message_thread_id=77, is_topic_message=True,
                         reply_to_message={"message_id": 77, "date": 1, "chat": {"id": G, "type": "supergroup"}})["result"]
        [reply] = await replies(peer)
    assert reply["thread"] == 77 and reply["reply_to"] == asked["message_id"]
    assert seen[0].reply_to is None  # the topic's first message is not what the member replied to


async def test_a_malformed_update_is_logged_and_skipped(peer, tmp_path, extra_plugin, caplog):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.post("/test/update", update={"message": {"message_id": "x", "chat": "not a chat"}})
        peer.say(G, MEMBER, "签到")
        await replies(peer)
    assert "malformed update" in caplog.text
