"""Broadcasts (群发, plugins/broadcasts.py): preview and confirmation, who may send and which groups accept,
one message per group with two processes on one PostgreSQL, and a delivery report from what the outbox
really did (bot/receipts.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from bot.adapters.base import CAPABILITIES, PlatformError
from bot.config import QunbotConfig
from bot.model import MessageReceived, SendMessage
from tests.conftest import PG_URL, Chat, needs_pg, texts, wipe_pg

ACCEPT = 'accept_from = ["课程群"]\n'


def sets(*groups: str) -> str:
    return '[sets]\n"课程群" = [' + ", ".join(f'"{g}"' for g in groups) + "]\n"


def sent_to(effects) -> list[str]:
    return [e.group_key for e in effects if isinstance(e, SendMessage) and e.reason == "broadcast"]


async def test_a_broadcast_is_previewed_then_sent_once_to_the_groups_that_accept_it(make_engine, only_rules):
    rules = only_rules(broadcasts=ACCEPT, sets=sets("qq:g1", "qq:g2", "telegram:t1", "qq:g3"))
    (rules / "broadcasts.toml").write_text(ACCEPT + '[groups."qq:g3"]\naccept_from = []\n', encoding="utf-8")
    chat = Chat(await make_engine(rules), group="g1")
    preview = texts(await chat.say("/群发 课程群 明晚 8 点直播，记得来", user="boss", role="owner"))[0]
    assert "明晚 8 点直播，记得来" in preview and "将发送到 2 个群：qq:g2、telegram:t1（本群不重复发送）" in preview
    assert "qq:g3：该群群主未允许来自「课程群」的群发" in preview
    confirmed = await chat.say("/群发 确认", user="boss", role="owner")
    assert sent_to(confirmed) == ["qq:g2", "telegram:t1"]
    assert {e.receipt for e in confirmed if e.reason == "broadcast"} == {"broadcast:1"}
    assert [e.text for e in confirmed if e.reason == "broadcast"][0] == "📢 明晚 8 点直播，记得来"
    assert "已提交给 2 个群（1 个群未允许，已跳过）" in texts(confirmed)[-1]
    assert "没有待确认的群发" in texts(await chat.say("/群发 确认", user="boss", role="owner"))[0]  # once


async def test_who_may_broadcast(make_engine, only_rules):
    rules = only_rules(broadcasts=ACCEPT, sets=sets("qq:g1", "qq:g2"))
    engine = await make_engine(rules, config=QunbotConfig(bot_admins=["qq:root"]))
    assert "只有群主" in texts(await Chat(engine, group="g1").say("/群发 课程群 你好", user="a", role="admin"))[0]
    outside = texts(await Chat(engine, group="g9").say("/群发 课程群 你好", user="boss", role="owner"))[0]
    assert "本群不在这个集合中" in outside
    from_anywhere = texts(await Chat(engine, group="g9").say("/群发 课程群 你好", user="root"))[0]
    assert "将发送到 2 个群" in from_anywhere
    assert "没有名为「别的」的群组集合" in texts(await Chat(engine, group="g1").say("/群发 别的 你好", user="boss", role="owner"))[0]
    chat = Chat(engine, group="g1")
    await chat.say("/群发 课程群 你好", user="boss", role="owner")
    assert "已取消" in texts(await chat.say("/群发 取消", user="boss", role="owner"))[0]
    assert "没有待确认的群发" in texts(await chat.say("/群发 确认", user="boss", role="owner"))[0]


class GroupRefusing:
    """A QQ stand-in whose sends to one group fail for good (the bot was removed there, say)."""

    platform = "qq"

    def __init__(self, broken: str):
        self.broken, self.delivered = broken, []

    def capabilities(self, group):
        return CAPABILITIES["qq"]

    async def perform(self, action):
        await asyncio.sleep(0)
        if action.group == self.broken:
            raise PlatformError("bot is not in the group")
        self.delivered.append((action.group, action.text))


async def test_the_delivery_report_says_what_the_outbox_did(make_engine, only_rules):
    engine = await make_engine(only_rules(broadcasts=ACCEPT, sets=sets("qq:g1", "qq:g2", "qq:g3", "qq:g4", "wecom:w1")))
    adapter = engine.adapters["qq"] = GroupRefusing("g3")
    chat = Chat(engine, group="g1")
    await chat.say("/群发 课程群 停课通知", user="boss", role="owner")
    confirmed = await chat.say("/群发 确认", user="boss", role="owner")
    engine.deliver(confirmed, chat.now)
    await engine.outbox.drain()
    assert sorted(g for g, text in adapter.delivered if text == "📢 停课通知") == ["g2", "g4"]
    report = texts(await chat.advance(by=timedelta(minutes=2)))
    assert len(report) == 1
    assert "已送达 2/4 个群" in report[0] and "qq:g3：平台拒绝：" in report[0] and "bot is not in the group" in report[0]
    assert "wecom:w1：机器人没有连接 wecom" in report[0]


@needs_pg
async def test_two_processes_send_a_broadcast_to_fifty_groups_once_each(make_engine, only_rules):
    await wipe_pg()
    groups = [f"qq:g{n}" for n in range(51)]
    rules = only_rules(broadcasts=ACCEPT, sets=sets(*groups))
    engines = [await make_engine(rules, db_url=PG_URL), await make_engine(rules, db_url=PG_URL)]
    sends, at = [], datetime(2026, 12, 3, 9, tzinfo=timezone.utc)
    # Both processes are connected to the group: each receives the same two messages at once.
    for text, message in (("/群发 课程群 周末活动报名开始啦", "m1"), ("/群发 确认", "m2")):
        at += timedelta(seconds=1)
        for engine in engines:
            engine.clock.set(at)
        event = MessageReceived(at=at, platform="qq", group="g0", user="boss", role="owner", id=message, text=text)
        for effects in await asyncio.gather(*(engine.handle(event) for engine in engines)):
            sends += sent_to(effects)
    assert sorted(sends) == sorted(groups[1:])  # fifty groups, each once
