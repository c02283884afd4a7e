"""Check-ins: once per member per day in the group's timezone, streaks, bonuses, ranks, /top."""

import asyncio

import pytest

from bot.config import QunbotConfig
from tests.conftest import Chat, at, reasons, texts


@pytest.fixture
async def chat(chat_with) -> Chat:
    """A group where only check-ins run, on their shipped rules."""
    return await chat_with("checkin")


async def test_first_checkin_rank_points_and_second_the_same_day(chat: Chat):
    first = await chat.say("签到", user="u1", name="小王")
    assert reasons(first) == ["checked_in"]
    assert first[0].mentions == ("u1",) and first[0].reply_to == "m1" and first[0].plugin == "checkin"
    assert "第 1 个" in first[0].text and "累计 10 积分" in first[0].text
    second = await chat.say("打卡", user="u2", name="小李")
    assert "第 2 个" in second[0].text
    again = await chat.say("/checkin", user="u1", name="小王")
    assert reasons(again) == ["already_checked_in"]
    assert "已经签过到" in again[0].text and "第 1 个" in again[0].text


async def test_day_follows_beijing_midnight_not_utc(chat: Chat):
    # 23:59 and 00:01 Beijing are one minute apart but two days: both count, and the streak grows.
    late = await chat.say("签到", when=at("2026-11-23 23:59"))
    early = await chat.say("签到", when=at("2026-11-24 00:01"))
    assert reasons(late + early) == ["checked_in", "checked_in"]
    assert "连续签到 2 天" in early[0].text
    # 07:00 and 09:00 Beijing straddle midnight UTC but are one day here.
    await chat.say("签到", when=at("2026-11-25 07:00"))
    same_day = await chat.say("签到", when=at("2026-11-25 09:00"))
    assert reasons(same_day) == ["already_checked_in"]


async def test_group_timezone_from_config(make_engine, only_rules):
    config = QunbotConfig(group_timezones={"telegram:berlin": "Europe/Berlin"})
    chat = Chat(await make_engine(only_rules("checkin"), config=config), platform="telegram", group="berlin")
    # 06:30 and 08:30 Beijing on the 24th are 23:30 on the 23rd and 01:30 on the 24th in Berlin.
    assert reasons(await chat.say("签到", when=at("2026-11-24 06:30"))) == ["checked_in"]
    assert reasons(await chat.say("签到", when=at("2026-11-24 08:30"))) == ["checked_in"]


async def test_streak_breaks_after_a_missed_day_and_bonus_on_the_seventh(chat: Chat):
    for day in range(1, 8):
        actions = await chat.say("签到", when=at(f"2026-11-{day:02d} 08:00"))
    assert "连续签到 7 天" in actions[0].text and "获得 30 积分" in actions[0].text and "连签奖励 20" in actions[0].text
    assert "累计 90 积分" in actions[0].text
    gap = await chat.say("签到", when=at("2026-11-09 08:00"))
    assert "连续签到 1 天" in gap[0].text


async def test_concurrent_checkins_by_one_member_make_exactly_one(chat: Chat):
    from bot.model import MessageReceived

    events = [MessageReceived(at=at("2026-11-23 09:00"), platform="qq", group="g1", user="u1", name="小王", id=f"m{i}",
                              text="签到") for i in range(5)]
    results = await asyncio.gather(*(chat.engine.handle(event) for event in events))
    all_reasons = sorted(r for actions in results for r in reasons(actions))
    assert all_reasons == ["already_checked_in"] * 4 + ["checked_in"]


async def test_the_same_message_sent_again_is_answered_once(chat: Chat):
    # The platform sends a 签到 again when it saw no answer (a restart, a take-over): that message made the
    # check-in, and its answer goes out from the outbox; a "checked in already" besides would answer it twice.
    from bot.model import MessageReceived

    event = MessageReceived(at=at("2026-11-23 09:00"), platform="qq", group="g1", user="u1", name="小王", id="again1",
                             text="签到")
    results = await asyncio.gather(*(chat.engine.handle(event) for _ in range(3)))
    assert sorted(r for actions in results for r in reasons(actions)) == ["checked_in"]
    assert await chat.engine.handle(event) == []
    # Another message of the member's is another 签到: it is told.
    assert reasons(await chat.say("签到", user="u1", name="小王", when=at("2026-11-23 09:01"))) == ["already_checked_in"]


async def test_leaderboard_periods(chat: Chat):
    # u1 checks in on the 1st (a Sunday, previous week) and 2nd-3rd; u2 only on the 3rd.
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        await chat.say("签到", user="u1", name="小王", when=at(f"{day} 08:00"))
    await chat.say("签到", user="u2", name="小李", when=at("2026-11-03 08:01"))
    await chat.say("签到", user="u3", name="老张", when=at("2026-10-31 08:00"))
    week = texts(await chat.say("/top", user="u2", when=at("2026-11-03 09:00")))[0]
    assert "本周" in week and "1. 小王 — 20 积分，签到 2 天" in week and "2. 小李 — 10 积分" in week and "老张" not in week
    month = texts(await chat.say("/top 月", user="u2"))[0]
    assert "1. 小王 — 30 积分，签到 3 天" in month and "老张" not in month
    total = texts(await chat.say("/排行 总", user="u2"))[0]
    assert "老张" in total and total.index("小王") < total.index("小李")


async def test_equal_scores_rank_by_who_checked_in_first(chat: Chat):
    # User ids sort the other way round, so that only the check-in times can put them in this order.
    for minute, (user, name) in enumerate([("u9", "小王"), ("u5", "小李"), ("u1", "小张")]):
        await chat.say("签到", user=user, name=name, when=at(f"2026-11-23 08:0{minute}"))
    for period in ("周", "月", "总"):
        board = texts(await chat.say(f"/top {period}", user="u1"))[0]
        assert board.splitlines()[1:] == ["1. 小王 — 10 积分，签到 1 天", "2. 小李 — 10 积分，签到 1 天",
                                          "3. 小张 — 10 积分，签到 1 天"], (period, board)
    # Over days: equal totals go to whoever reached them first, that is the earlier latest check-in.
    await chat.say("签到", user="u1", name="小张", when=at("2026-11-24 07:00"))
    await chat.say("签到", user="u9", name="小王", when=at("2026-11-24 09:00"))
    board = texts(await chat.say("/top", user="u1"))[0]
    assert board.splitlines()[1:3] == ["1. 小张 — 20 积分，签到 2 天", "2. 小王 — 20 积分，签到 2 天"], board


async def test_empty_leaderboard_invites_the_first(chat: Chat):
    assert "还没有人签到" in texts(await chat.say("/top"))[0]


async def test_groups_do_not_share_checkins(make_engine, only_rules):
    engine = await make_engine(only_rules("checkin"))
    one, two = Chat(engine, group="g1"), Chat(engine, group="g2")
    assert reasons(await one.say("签到")) == ["checked_in"]
    assert reasons(await two.say("签到")) == ["checked_in"]


async def test_a_late_checkin_for_an_earlier_day_counts_without_rewinding_the_streak(chat: Chat):
    for day in ("23", "24", "25"):
        await chat.say("签到", when=at(f"2026-11-{day} 08:00"))
    late = await chat.say("签到", when=at("2026-11-22 08:00"))
    assert reasons(late) == ["checked_in"]
    assert "连续签到 4 天" in texts(await chat.say("签到", when=at("2026-11-26 08:00")))[0]
    assert "签到 5 天" in texts(await chat.say("/top 总"))[0]


async def test_the_database_key_refuses_a_second_checkin_by_itself(chat: Chat):
    """The member row normally answers "already"; the key must hold even when it cannot (another
    process inserted the check-in, but this one read the member row before that)."""
    from datetime import date

    from bot.store.checkins import AlreadyCheckedIn, check_in, checkins_t

    def insert_behind_our_back(conn):
        conn.execute(checkins_t.insert().values(group_key="qq:g1", user_id="u1", day=date(2026, 11, 23),
                                                at=at("2026-11-23 08:00"), rank=1, streak=1, points=10))

    await chat.engine.store.run(insert_behind_our_back)
    with pytest.raises(AlreadyCheckedIn) as refused:
        await chat.engine.store.run(check_in, "qq:g1", "u1", "小王", date(2026, 11, 23), at("2026-11-23 09:00"), lambda s: 10)
    assert refused.value.earlier is None  # no member row to tell the totals from


async def test_a_second_checkin_is_refused_with_the_first_as_it_stands(chat: Chat):
    from datetime import date

    from bot.store.checkins import AlreadyCheckedIn, CheckinResult, check_in, todays_checkin

    await chat.say("签到", user="u2", when=at("2026-11-23 08:00"))
    await chat.say("签到", user="u1", when=at("2026-11-23 08:30"))
    with pytest.raises(AlreadyCheckedIn) as refused:
        await chat.engine.store.run(check_in, "qq:g1", "u1", "小王", date(2026, 11, 23), at("2026-11-23 09:00"), lambda s: 10)
    assert refused.value.earlier == CheckinResult(rank=2, streak=1, points=10, total_points=10, days=1)
    assert refused.value.earlier == await chat.engine.store.run(todays_checkin, "qq:g1", "u1", date(2026, 11, 23))


async def test_huge_rule_values_are_refused(chat: Chat):
    assert reasons(await chat.say("/set checkin base_points 99999999999999999999", role="admin")) == ["invalid_value"]
    assert reasons(await chat.say("签到")) == ["checked_in"]
