"""Red-packet prompts, the points ledger and levels: the issue's scenarios, events in and actions out."""

from datetime import timedelta

import pytest

from bot.model import MemberJoined, MessageReceived
from bot.store.points import recompute_totals, standing
from tests.conftest import Chat, at, kinds, reasons, reports, texts
from tests.test_idiom_chain import follower, start

# red_packet with the plugins it works beside: check-ins (streaks) and the points ledger (levels)
ENGAGEMENT = ("red_packet", "checkin", "points")


@pytest.fixture
async def chat(chat_with) -> Chat:
    return await chat_with(*ENGAGEMENT)


async def test_a_deal_prompts_once_within_the_cooldown(chat: Chat):
    first = await chat.say("今天签单了！", user="u1", name="小王")
    assert reasons(first) == ["deal_prompt"] and first[0].mentions == ("u1",) and "小王" in first[0].text
    assert await chat.say("又成交一单", user="u1", name="小王") == []  # same day: cooldown
    assert reasons(await chat.say("我也开单了", user="u2", name="小李")) == ["deal_prompt"]  # someone else
    later = await chat.say("今天又签单了", user="u1", name="小王", when=chat.now + timedelta(hours=25))
    assert reasons(later) == ["deal_prompt"]


async def test_a_red_packet_is_thanked_counted_and_earns_points(chat: Chat):
    def packet(n):
        chat.now += timedelta(minutes=1)
        return MessageReceived(at=chat.now, platform="qq", group="g1", user="u1", name="小王", id=f"rp{n}", kind="red_packet")

    first = await chat.engine.handle(packet(1))
    assert reasons(first) == ["red_packet_thanked"] and "第 1 个红包" in first[0].text
    second = await chat.engine.handle(packet(2))
    assert "第 2 个红包" in second[0].text
    assert (await chat.engine.store.run(standing, "qq:g1", "u1"))["points"] == 20
    assert "发过红包 2 次" in texts(await chat.say("/me", user="u1", name="小王"))[0]


async def test_birthday_prompt_on_the_right_morning(chat: Chat):
    assert reasons(await chat.say("/生日 11-25", user="u1", name="小王")) == ["birthday_saved"]
    assert reasons(await chat.say("/生日 13-40", user="u2")) == ["invalid_date"]
    assert reasons(await chat.say("/生日 明天", user="u2")) == ["usage"]
    assert await chat.advance(to=at("2026-11-25 08:59")) == []
    [birthday] = await chat.timeline(to=at("2026-11-26 12:00"))
    when, prompt = birthday
    assert when == at("2026-11-25 09:00") and prompt.reason == "birthday_prompt" and prompt.mentions == ("u1",)


async def test_a_streak_milestone_and_a_member_milestone(chat_with):
    chat = await chat_with(*ENGAGEMENT, red_packet="streak_milestones = [3]\nmember_milestones = [100]\n")
    for day in ("21", "22"):
        assert "streak_prompt" not in reasons(await chat.say("签到", when=at(f"2026-11-{day} 08:00")))
    third = await chat.say("/签到", when=at("2026-11-23 08:00"))
    assert reasons(third) == ["checked_in", "streak_prompt"] and "连续签到 3 天" in third[1].text
    joined = await chat.engine.handle(MemberJoined(at=at("2026-11-23 09:00"), platform="qq", group="g1", user="n1", name="新人", member_count=100))
    [milestone] = joined
    assert milestone.reason == "member_milestone_prompt"
    assert milestone.mentions == ("n1",) and "突破 100 人" in milestone.text


async def test_join_anniversary_and_festival_prompts(chat_with):
    chat = await chat_with(*ENGAGEMENT, start=at("2025-09-20 10:00"))
    await chat.join("old", name="老成员")
    fired = await chat.advance(to=at("2026-09-26 00:00"))
    assert set(reasons(fired)) == {"anniversary_prompt", "festival_prompt"}
    anniversary = [a for a in fired if a.reason == "anniversary_prompt"]
    assert len(anniversary) == 1 and "整整 1 年" in anniversary[0].text and anniversary[0].mentions == ("old",)
    festivals = [a.text.split("，")[0].removeprefix("🧧 今天是") for a in fired if a.reason == "festival_prompt"]
    # 2025-10-06, 2026-02-17, 2026-03-03, 2026-06-19, 2026-09-25: the festivals in the rules, once each
    assert festivals == ["中秋", "春节", "元宵", "端午", "中秋"]


async def test_me_after_a_week_of_checkins_and_a_game(chat_with):
    chat = await chat_with(*ENGAGEMENT, "idiom_chain")
    for day in range(16, 23):  # 7 days: 7 x 10 + the 7-day bonus of 20
        await chat.say("签到", user="u1", name="小王", when=at(f"2026-11-{day} 08:00"))
    first = await start(chat, user="u2")
    await chat.say(follower(first, True), user="u1", name="小王")  # +5
    me = texts(await chat.say("/me", user="u1", name="小王"))[0]
    assert "积分 95" in me and "Lv2「活跃成员」" in me and "再得 105 分升级为「资深成员」" in me
    assert "累计 7 天，连续 7 天" in me
    assert me.splitlines()[1:3] == ["等级：Lv2「活跃成员」，积分 95（再得 105 分升级为「资深成员」）",
                                    "签到：累计 7 天，连续 7 天（最长 7 天）"]  # one fact a line
    assert await chat.engine.store.run(recompute_totals, "qq:g1") == {"u1": 95}
    board = texts(await chat.say("/积分榜", user="u2"))[0]
    assert "1. 小王「活跃成员」— 95 分" in board


async def test_a_red_packet_replayed_twice_on_one_database_counts_once(tmp_path, only_rules):
    from bot.store import Store
    from bot.store.profiles import profile
    from tests.test_replay import records, run_replay, write_events
    db = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    events = [{"at": "2026-11-23T10:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王",
               "id": "rp1", "kind": "red_packet", "text": ""}]
    path, rules = str(write_events(tmp_path / "ev.jsonl", events)), str(only_rules(*ENGAGEMENT))
    first, again = run_replay(path, "--db", db, "--rules", rules), run_replay(path, "--db", db, "--rules", rules)
    assert [(r["plugin"], r["reason"]) for r in records(first.stdout)] == [("red_packet", "red_packet_thanked")]
    assert records(again.stdout) == []  # already thanked
    store = await Store.open(db)
    try:
        assert (await store.run(profile, "qq:g1", "u1"))["red_packets"] == 1
        assert (await store.run(standing, "qq:g1", "u1"))["points"] == 10
    finally:
        await store.close()


async def test_the_same_red_packet_delivered_twice_is_thanked_and_counted_once(chat: Chat):
    packet = MessageReceived(at=chat.now, platform="qq", group="g1", user="u1", name="小王", id="rp7", kind="red_packet")
    assert reasons(await chat.engine.handle(packet)) == ["red_packet_thanked"]
    assert await chat.engine.handle(packet) == []
    assert (await chat.engine.store.run(standing, "qq:g1", "u1"))["points"] == 10


def test_a_negated_deal_is_no_deal():
    from bot.deal_intent import announces_deal
    from plugins.red_packet import RedPacketRules
    words = RedPacketRules().deal_keywords
    for text in ("今天签单了！", "又成交一单", "不错，成交了", "没成交，但是开单了", "出单 啦"):
        assert announces_deal(text, words), text
    for text in ("没成交", "还没有签单", "未成交", "不成交就算了", "今天又没 开单", "未能出单", "别签单"):
        assert not announces_deal(text, words), text


async def test_no_red_packet_prompt_for_a_deal_that_did_not_happen(chat: Chat):
    assert await chat.say("唉，今天又没成交", user="u1", name="小王") == []
    assert await chat.say("客户未签单", user="u1", name="小王") == []
    assert reasons(await chat.say("终于成交了", user="u1", name="小王")) == ["deal_prompt"]


async def test_an_impossible_birthday_is_refused_with_a_reason(chat: Chat):
    refused = await chat.say("/生日 2-30", user="u1")
    assert reasons(refused) == ["invalid_date"] and "2 月没有 30 日" in refused[0].text
    assert reasons(await chat.say("/生日 4-31", user="u1")) == ["invalid_date"]
    assert reasons(await chat.say("/生日 13-1", user="u1")) == ["invalid_date"]
    assert reasons(await chat.say("/生日 2-29", user="u1")) == ["birthday_saved"]  # leap-day birthdays exist


@pytest.mark.parametrize("restart, sent", [("2026-11-25 09:20", True), ("2026-11-25 14:00", False)])
async def test_birthday_prompts_missed_during_downtime_are_sent_within_grace_only(tmp_path, only_rules, restart, sent):
    from bot.config import QunbotConfig
    from bot.engine import Engine
    from tests.test_daily_posts import SteppedClock
    url, rules = f"sqlite:///{tmp_path / 'db.sqlite'}", only_rules(*ENGAGEMENT)
    first = Chat(await Engine.create(QunbotConfig(), rules, db_url=url, clock=SteppedClock(at("2026-11-24 10:00"))))
    try:
        assert reasons(await first.say("/生日 11-25", user="u1", name="小王", when=at("2026-11-24 10:00"))) == ["birthday_saved"]
    finally:
        await first.engine.close()
    engine = await Engine.create(QunbotConfig(), rules, db_url=url, clock=SteppedClock(at(restart)))
    try:
        engine.scheduler.plan_group("qq:g1", catch_up=True)  # as at start-up for a known group
        fired = await engine.scheduler.run_due(engine.clock.now())
        if sent:
            assert reasons(fired) == ["birthday_prompt"]
        else:  # too late: skipped, and the operators told
            assert kinds(fired) == ["report"] and reasons(fired) == ["late_slot"]
            assert reports(fired)[0].startswith("qq:g1: red packet prompts due at 2026-11-25T09:00:00+08:00 skipped: ")
    finally:
        await engine.close()


async def test_a_late_check_in_does_not_celebrate_the_current_streak(chat_with):
    # The streak comes from the check-in of the same event (or, after "already checked in", from the row):
    # a first check-in is celebrated, a second one and a late one (for a day before the member's latest) not.
    chat = await chat_with(*ENGAGEMENT, red_packet="streak_milestones = [1]\n")
    assert reasons(await chat.say("签到", user="u1", when=at("2026-11-23 08:00"))) == ["checked_in", "streak_prompt"]
    assert reasons(await chat.say("签到", user="u2", when=at("2026-11-23 08:05"))) == ["checked_in", "streak_prompt"]
    assert reasons(await chat.say("签到", user="u2", when=at("2026-11-23 09:00"))) == ["already_checked_in"]
    late = await chat.say("签到", user="u1", when=at("2026-11-21 08:00"))
    assert reasons(late) == ["checked_in"]
