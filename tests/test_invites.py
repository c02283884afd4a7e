"""Invitations: an inviter is credited once per invitee who stayed and introduced themselves, never for one
who left, never twice for one who re-joined; /邀请榜."""

from __future__ import annotations

from datetime import timedelta

from bot.store.points import recompute_totals
from tests.conftest import at, reasons, texts, timers

def mine(effects):
    return [e for e in effects if e.plugin == "invites"]


INTRO = "城市：上海 行业：电商 称呼：小新"


async def test_credit_after_the_stay_and_the_introduction_once(chat_with):
    chat = await chat_with("self_intro", "points", invites="")  # the defaults, switched on (shipped off)
    await chat.say("大家好", user="boss", name="老王")
    joined = await chat.join("n1", name="新人一", inviter="boss")
    assert [t.due for t in timers(joined) if t.timer == "qualify"] == [at("2026-11-30 09:00") + timedelta(seconds=2)]
    await chat.join("n2", name="新人二", inviter="boss")
    await chat.join("n3", name="新人三", inviter="boss")
    await chat.say(INTRO, user="n1")
    await chat.say(INTRO.replace("小新", "小二"), user="n2")
    await chat.leave("n2", when=chat.now + timedelta(days=1))  # left the next day: earns nothing
    fired = await chat.advance(by=timedelta(days=7))
    assert reasons(fired).count("invitee_qualified") == 2  # n1's message and report; n3 owes an introduction
    [thanks] = texts(mine(fired))
    assert "新人一" in thanks and "老王" in thanks
    await chat.say(INTRO.replace("小新", "小三"), user="n3")
    fired = await chat.advance(by=timedelta(days=1))
    assert "新人三" in texts(mine(fired))[0]
    assert await chat.engine.store.run(recompute_totals, "qq:g1") == {"boss": 40}
    # n1 leaves and comes back, invited by someone else: nobody is credited for n1 again.
    await chat.leave("n1")
    again = await chat.join("n1", name="新人一", inviter="u9")
    assert not timers(mine(again))
    await chat.advance(by=timedelta(days=30))
    assert await chat.engine.store.run(recompute_totals, "qq:g1") == {"boss": 40}
    board = texts(await chat.say("/邀请榜"))[0]
    assert "1. 老王 — 2 人（另有 1 人未达标或还在路上）" in board


async def test_without_self_intro_staying_is_enough(chat_with):
    chat = await chat_with(invites="points = 5\n")
    await chat.join("n1", inviter="boss")
    fired = await chat.advance(by=timedelta(days=7, seconds=1))
    assert reasons(fired) == ["invitee_qualified", "invitee_qualified"]


async def test_an_introduction_that_never_comes_earns_nothing(chat_with):
    chat = await chat_with("self_intro", invites="wait_days = 9\n")
    await chat.join("n1", inviter="boss")
    fired = await chat.advance(by=timedelta(days=12))
    assert "invitee_qualified" not in reasons(fired)
    assert [t.timer for t in timers(fired)].count("qualify") == 2  # days 8 and 9, then it gives up


async def test_a_join_without_an_inviter_and_self_invites_count_for_nobody(chat_with):
    chat = await chat_with(invites="")
    assert not timers(await chat.join("n1"))
    assert not timers(await chat.join("n2", inviter="n2"))
    assert "还没有邀请记录" in texts(await chat.say("/邀请榜"))[0]
