"""Sleeping members: /潜水 from the statistics, check-ins and join days; the opt-in clean-up warns, spares
who speaks or checks in, removes the rest where the bot can (lists them elsewhere), never admins or the
keep list; a dry run shows who would go."""

from __future__ import annotations

from datetime import timedelta

from bot.model import KickMember
from tests.conftest import Chat, at, reasons, texts

CLEANUP_ON = "silent_days = 10\ncleanup = true\nwarn_hours = 24\nkeep = [\"qq:keeper\"]\n"


async def a_quiet_fortnight(chat: Chat) -> None:
    """Day 0: everyone speaks (the admin as admin) and newcomer n1 joins; from then on only u1 does."""
    for user in ("u1", "u2", "u3", "u4", "keeper"):
        await chat.say("大家好", user=user)
    await chat.say("我是管理员", user="boss", role="admin")
    await chat.join("n1", name="新人")
    await chat.join("gone")
    await chat.leave("gone")
    for day in range(1, 15):
        await chat.say("早", user="u1", when=at("2026-11-23 09:00") + timedelta(days=day))


async def test_the_list_with_days_and_layers(chat_with):
    chat = await chat_with("inactive", "insights", inactive="silent_days = 10\n")
    await a_quiet_fortnight(chat)
    listed = texts(await chat.say("/潜水", role="admin"))[0]
    assert "超过 10 天没发言的成员：5 位" in listed
    assert "u2（u2）— 14 天没发言，潜水" in listed and "新人（n1）— 入群 14 天从未发言，沉睡" in listed
    assert "boss" not in listed and "gone" not in listed and "u1（" not in listed and "keeper（keeper）" in listed
    assert "只统计机器人见过的成员" in listed
    assert "只有管理员" in texts(await chat.say("/潜水"))[0]


async def test_the_clean_up_is_opt_in_and_a_dry_run_touches_nobody(chat_with):
    chat = await chat_with("inactive", inactive="silent_days = 10\n")
    await a_quiet_fortnight(chat)
    assert reasons(await chat.say("/清理潜水", role="admin")) == ["cleanup_off"]
    preview = await chat.say("/清理潜水 预览", role="admin")
    assert reasons(preview) == ["cleanup_preview"] and "不会提醒" in texts(preview)[0] and "将被移出本群" in texts(preview)[0]
    assert reasons(await chat.advance(by=timedelta(days=5))) == []


async def test_warn_spare_who_speaks_or_checks_in_then_remove(chat_with):
    chat = await chat_with("inactive", "checkin", inactive=CLEANUP_ON)
    await a_quiet_fortnight(chat)
    warned = await chat.say("/清理潜水", role="admin")
    assert reasons(warned) == ["cleanup_warned", "cleanup", "cleanup_warned"]
    assert set(warned[0].mentions) == {"u2", "u3", "u4", "n1"}  # not the admin, the keep list, who left or spoke
    assert "将把你移出本群" in warned[0].text
    assert reasons(await chat.say("/清理潜水", role="admin")) == ["cleanup_pending"]
    assert reasons(await chat.say("我还在！", user="u2")) == ["spared"]
    assert reasons(await chat.say("我还在！", user="u2")) == []  # once
    await chat.say("签到", user="u3")
    fired = await chat.advance(by=timedelta(hours=24))
    assert sorted(a.user for a in fired if isinstance(a, KickMember)) == ["n1", "u4"]
    [told] = [a for a in fired if a.name == "send"]
    assert "正在将其移出本群" in told.text and "已保留 2 位" in told.text
    assert chat.delivered(fired)[0].name == "kick"


async def test_where_the_bot_cannot_remove_it_lists_them_for_the_owner(chat_with):
    chat = await chat_with("inactive", inactive=CLEANUP_ON, platform="wecom")
    await a_quiet_fortnight(chat)
    warned = await chat.say("/清理潜水", role="admin")
    assert "名单会交给群主处理" in warned[0].text and "将把你移出" not in warned[0].text
    assert "只看得到 @ 它的消息" in warned[0].text
    fired = await chat.advance(by=timedelta(hours=25))
    assert not [a for a in fired if isinstance(a, KickMember)]
    assert reasons(fired) == ["cleanup_listed", "cleanup_done"] and "请群主手动处理" in fired[0].text
    assert "移出本群" not in fired[0].text


async def test_cancel_and_who_leaves_meanwhile(chat_with):
    chat = await chat_with("inactive", inactive=CLEANUP_ON)
    await a_quiet_fortnight(chat)
    await chat.say("/清理潜水", role="admin")
    assert reasons(await chat.say("/清理潜水 取消", role="admin")) == ["cleanup_cancelled", "cleanup"]
    assert reasons(await chat.advance(by=timedelta(hours=25))) == []
    await chat.say("/清理潜水", role="admin")
    await chat.leave("u2")
    fired = await chat.advance(by=timedelta(hours=25))
    assert sorted(a.user for a in fired if isinstance(a, KickMember)) == ["n1", "u3", "u4"]
