"""Say only what happened, against a OneBot peer (tests/onebot_sim.py) where the bot is a plain member of the
group: a member cannot recall others' messages, mute or remove anyone, or mute the whole group. The group
hears no claim of a deletion, mute or removal that did not happen, and the admin log hears of each failure."""

from __future__ import annotations

import pytest

from bot.adapters.qq.config import ForwardConnection, QQConfig
from bot.config import QunbotConfig
from bot.model import SendMessage
from tests.onebot_sim import Member, OneBotSim
from tests.qq_harness import running, texts_of, wait_until
from tests.test_honest_messages import claimed

GROUP, OPS, OWNER, ADMIN, NEWCOMER, LATER = 700001, 700009, 1001, 1002, 1009, 1010
TOKEN_ENV, TOKEN = "QUNBOT_TEST_QQ_TOKEN", "s3cret"


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(GROUP, {OWNER: "owner", ADMIN: "admin"})
    peer.add_group(OPS, {OWNER: "owner"})  # the admin log chat
    yield peer
    await peer.stop()


@pytest.fixture
async def engine(make_engine, only_rules):
    # No windows of its own: the group is muted only by an admin's /quiet.
    return await make_engine(only_rules("join_threshold", mute_window=""), config=QunbotConfig(admin_log=f"qq:{OPS}"))


def said(sim, group: int = GROUP) -> list[str]:
    return [texts_of(s["message"]) if isinstance(s["message"], list) else s["message"] for s in sim.sent if s["group_id"] == group]


def text(words: str) -> list[dict]:
    return [{"type": "text", "data": {"text": words}}]


async def newcomer_joins(sim, user: int) -> None:
    sim.groups[GROUP][user] = Member("member", nickname=f"u{user}")
    await sim.post({"post_type": "notice", "notice_type": "group_increase", "sub_type": "invite",
                    "group_id": GROUP, "user_id": user, "operator_id": OWNER})


def calls(sim, *names: str) -> list[str]:
    return [name for name, _ in sim.calls if name in names]


async def test_a_plain_member_bot_promises_and_claims_nothing_it_cannot_do(sim, engine):
    sim.groups[GROUP][sim.self_id].role = "member"
    config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=TOKEN_ENV)
    async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.bot_roles.get(str(GROUP)) == "member", "the bot's role learnt")
        assert adapter.capabilities(str(GROUP)) == frozenset({"send"})
        await newcomer_joins(sim, NEWCOMER)
        quiz = await wait_until(lambda: [t for t in said(sim) if "入群前请先回答" in t], "the quiz")
        assert "撤回" not in quiz[0] and "移出" not in quiz[0] and "请群主处理" in quiz[0]
        for answer in ("不知道", "还是不知道", "真的不知道"):
            await sim.member_says(GROUP, NEWCOMER, text(answer))
        await wait_until(lambda: any("多次回答错误" in t for t in said(sim)), "the quiz failed")
        await sim.member_says(GROUP, ADMIN, text("/quiet 30m"))
        await wait_until(lambda: any("无法自动全员禁言" in t for t in said(sim)), "the quiet window's own words")
        await engine.outbox.drain()
    # Nothing it cannot do was even tried; the owner was asked to remove the newcomer.
    assert calls(sim, "delete_msg", "set_group_ban", "set_group_kick", "set_group_whole_ban") == []
    assert NEWCOMER in sim.groups[GROUP] and any("没有移除成员的权限" in t for t in said(sim))
    for words in said(sim):
        assert claimed(words) == set(), words


async def test_a_bot_demoted_without_notice_fails_and_the_group_is_not_told_otherwise(sim, engine):
    sim.groups[GROUP][sim.self_id].role = "admin"
    config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=TOKEN_ENV)
    async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.bot_roles.get(str(GROUP)) == "admin", "the bot's role learnt")
        await newcomer_joins(sim, NEWCOMER)
        await wait_until(lambda: any("入群前请先回答" in t for t in said(sim)), "the quiz")
        sim.groups[GROUP][sim.self_id].role = "member"  # an owner demotes the bot; the notice is lost
        before = len(said(sim))
        await sim.member_says(GROUP, ADMIN, text("/quiet 30m"))
        await wait_until(lambda: calls(sim, "set_group_whole_ban"), "the mute-all tried")
        for answer in ("不知道", "还是不知道", "真的不知道"):
            await sim.member_says(GROUP, NEWCOMER, text(answer))
        await wait_until(lambda: len([t for t in said(sim, OPS) if "not told" in t]) == 2, "both failures reported")
        await engine.outbox.drain()
        after = said(sim)[before:]
        # Live capabilities follow what the failed removal's role check learnt: the next newcomer is told
        # the truth from the start.
        await newcomer_joins(sim, LATER)
        quiz = await wait_until(lambda: [t for t in said(sim) if "入群前请先回答" in t and str(LATER) in t], "the next quiz")
    assert len(calls(sim, "delete_msg")) == 3 and sim.whole_ban == set() and NEWCOMER in sim.groups[GROUP]
    assert [claimed(t) for t in after] == [set()] * len(after), after  # the wrong-answer replies only
    assert all("答案不对" in t for t in after)
    ops = said(sim, OPS)
    mute_all = [t for t in ops if "mute_all" in t]
    removal = [t for t in ops if "kick in qq:700001" in t]
    assert len(mute_all) == 1 and "期间全员禁言" in mute_all[0] and "permission denied" in mute_all[0]
    assert len(removal) == 1 and "已按群规移出本群" in removal[0] and "the bot is only member" in removal[0]
    # The first two deletions failed on their own; the third came with the removal, and is in its report.
    assert len([t for t in ops if t.startswith("could not deliver delete")]) == 2 and "delete in qq:700001" in removal[0]
    assert "撤回" not in quiz[0] and "会被移出" not in quiz[0]


async def test_the_bot_asks_the_group_history_whether_a_message_of_its_own_arrived(sim, engine):
    """``has_sent``: how a restart tells a post in doubt that reached the group from one that did not."""
    config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=TOKEN_ENV)
    async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await adapter.perform(SendMessage(platform="qq", group=str(GROUP), text="☀️ 早上好！\n今天也别忘了签到"))
        await sim.member_says(GROUP, ADMIN, text("☀️ 晚上好"))  # a member's words are not the bot's
        assert await adapter.has_sent(str(GROUP), "☀️ 早上好！\n今天也别忘了签到") is True
        assert await adapter.has_sent(str(GROUP), "☀️ 晚上好") is False
        sim.faults.unsupported.add("get_group_msg_history")  # an implementation without the extension
        assert await adapter.has_sent(str(GROUP), "☀️ 早上好！\n今天也别忘了签到") is None
