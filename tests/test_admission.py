"""Admission: join requests, the quiz after joining, review, blocking, the combined welcome, /群规 and /pending,
through the Chat harness on the shipped rules."""

import asyncio
from datetime import timedelta

from bot.model import ENGINE_EFFECTS, JoinRequested, MemberJoined, MemberLeft
from bot.store.admission import open_cases, strikes
from bot.store.timers import stored_timers
from tests.conftest import PG_URL, Chat, needs_pg, reasons, texts, wipe_pg


async def request(chat: Chat, user: str, answer: str, rid: str = "r1"):
    chat.now += timedelta(seconds=1)
    return await chat.engine.handle(JoinRequested(at=chat.now, platform=chat.platform, group=chat.group, user=user,
                                                  name=user, id=rid, answer=answer))


async def joined(chat: Chat, user: str, name: str | None = None, inviter: str | None = None, count: int | None = None):
    chat.now += timedelta(seconds=1)
    return await chat.engine.handle(MemberJoined(at=chat.now, platform=chat.platform, group=chat.group, user=user,
                                                 name=name or user, inviter=inviter, member_count=count))


def platform(actions) -> list:
    """The actions a platform would receive: without the engine's own effects (timers, reports)."""
    return [a for a in actions if type(a) not in ENGINE_EFFECTS]


async def test_a_right_answer_is_approved_and_a_wrong_one_declined_with_a_reason(chat: Chat):
    ok = await request(chat, "u4", "在ＷＸ公众号看到的", "r1")  # full-width text still matches
    assert [(a.name, a.approve, a.reason) for a in ok] == [("decide_join", True, "right_answer")]
    no = await request(chat, "u5", "随便看看", "r2")
    assert [(a.name, a.approve, a.reason) for a in no] == [("decide_join", False, "wrong_answer")]
    assert "回答不正确" in no[0].note and no[0].request == "r2"
    # The approved applicant's join is not quizzed; it only joins the welcome (and owes an introduction).
    assert [(a.plugin, a.name, a.key) for a in await joined(chat, "u4")] == [("welcome", "timer", ""),
                                                                          ("self_intro", "timer", "u4")]


async def test_an_invited_newcomer_on_wechat_is_quizzed_and_removed_after_the_deadline(make_engine):
    chat = Chat(await make_engine(), platform="wechat")
    asked = await joined(chat, "u7", "新人", inviter="u1")
    assert [(a.name, a.reason) for a in asked] == [("send", "quiz_started"), ("timer", "quiz_deadline")]
    assert asked[0].mentions == ("u7",) and "10 分钟" in asked[0].text
    assert (asked[1].key, asked[1].due) == ("u7", chat.now + timedelta(minutes=10))  # one timer per newcomer
    # While pending, other plugins do not see their messages: no check-in.
    assert reasons(await chat.say("签到", user="u7")) == ["pending", "wrong_answer"]
    assert await chat.engine.scheduler.run_due(chat.now + timedelta(minutes=9)) == []
    fired = await chat.engine.scheduler.run_due(chat.now + timedelta(minutes=11))
    assert [(a.name, a.reason) for a in fired] == [("send", "quiz_timeout"), ("kick", "quiz_timeout")]
    assert await chat.engine.store.run(strikes, "wechat:g1", "u7") == 1
    assert await chat.engine.store.run(open_cases, ("quiz", "intro")) == []


async def test_a_right_quiz_answer_passes_and_earns_the_welcome(chat: Chat):
    await joined(chat, "u7", "新人", inviter="u1")
    assert reasons(await chat.say("不知道", user="u7")) == ["pending", "wrong_answer"]
    passed = await chat.say("朋友介绍的", user="u7")
    # Let in: the welcome's timer moves, their introduction window opens, the quiz timer goes.
    assert [(a.plugin, a.name, a.reason) for a in passed] == [
        ("join_threshold", "send", "quiz_passed"), ("self_intro", "timer", "intro_due"), ("welcome", "timer", "batch"),
        ("join_threshold", "cancel_timer", "quiz_deadline")]
    assert reasons(await chat.say("签到", user="u7")) == ["checked_in"]  # a member like any other now
    fired = platform(await chat.engine.scheduler.run_due(chat.now + timedelta(minutes=30)))
    assert reasons(fired) == ["welcome"] and fired[0].mentions == ("u7",)  # the quiz timer was cancelled


async def test_three_wrong_answers_remove_and_repeated_failures_block(chat: Chat):
    for round_ in range(3):
        chat.now += timedelta(minutes=1)  # nine messages in nine seconds would be a flood for anti_ad
        await joined(chat, "u8", inviter="u1")
        for _ in range(2):
            assert reasons(await chat.say("不知道", user="u8"))[-1] == "wrong_answer"
        # Removed, then told so (the announcement is sent only once the kick is done).
        assert [a.name for a in await chat.say("还是不知道", user="u8")] == ["delete", "kick", "send", "cancel_timer"]
    assert await chat.engine.store.run(strikes, "qq:g1", "u8") == 3
    turned_away = await request(chat, "u8", "公众号")
    assert [(a.name, a.approve, a.reason) for a in turned_away] == [("decide_join", False, "blocked")]
    assert [a.name for a in await joined(chat, "u8", inviter="u1")] == ["kick", "send"]


async def test_review_holds_requests_for_an_admin(make_engine, rules_dir):
    text = (rules_dir / "join_threshold.toml").read_text(encoding="utf-8").replace('mode = "answer"', 'mode = "review"')
    (rules_dir / "join_threshold.toml").write_text(text, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    held = await request(chat, "u4", "公众号", "r9")
    assert reasons(held) == ["held_for_review"] and "/通过 u4" in held[0].text
    assert reasons(await chat.say("/通过 u4", user="u1")) == ["not_permitted"]
    listed = texts(await chat.say("/pending", user="boss", role="admin"))[0]
    assert "u4" in listed and "入群申请待审核" in listed
    done = await chat.say("/通过 u4", user="boss", role="admin")
    assert [(a.name, getattr(a, "approve", None), getattr(a, "request", None)) for a in done] == [
        ("decide_join", True, "r9"), ("send", None, None)]
    assert reasons(await chat.say("/拒绝 u4", user="boss", role="admin")) == ["not_pending"]
    # A member who joined without a request waits muted, until an admin lets them in.
    waiting = await joined(chat, "u6", inviter="u1")
    assert [(a.name, a.reason) for a in waiting] == [("mute", "awaiting_review"), ("send", "awaiting_review")]
    assert [a.name for a in await chat.say("hello", user="u6")] == ["delete"]
    let_in = platform(await chat.say("/通过 u6", user="boss", role="admin"))
    assert [(a.name, getattr(a, "seconds", None)) for a in let_in] == [("send", None), ("mute", 0)]


async def test_twenty_joins_within_a_minute_get_one_combined_welcome(make_engine, rules_dir):
    (rules_dir / "join_threshold.toml").write_text('mode = "open"\n', encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    fired = []
    for i in range(20):
        chat.now += timedelta(seconds=2)
        fired += await chat.engine.scheduler.run_due(chat.now)
        chat.engine.clock.set(chat.now)
        await chat.engine.handle(MemberJoined(at=chat.now, platform="qq", group="g1", user=f"n{i}", name=f"新人{i}",
                                              member_count=100 + i))
    await chat.engine.handle(MemberLeft(at=chat.now, platform="qq", group="g1", user="n3"))
    fired += await chat.engine.scheduler.run_due(chat.now + timedelta(minutes=5))
    welcomes = [a for a in fired if a.reason == "welcome"]
    assert len(welcomes) == 1
    assert len(welcomes[0].mentions) == 19 and "n3" not in welcomes[0].mentions
    assert "新人19" in welcomes[0].text and "119 位成员" in welcomes[0].text and "群规" in welcomes[0].text
    assert "城市 / 行业 / 称呼" in welcomes[0].text and "城市-行业-称呼" in welcomes[0].text


async def test_group_rules_command(chat: Chat):
    shown = texts(await chat.say("/群规"))[0]
    assert "不发广告" in shown
    assert texts(await chat.say("/grouprules")) == [shown]


async def test_a_blocked_newcomer_is_removed_and_nobody_else_greets_or_chases_them(make_engine, rules_dir):
    text = (rules_dir / "self_intro.toml").read_text(encoding="utf-8").replace("prompt_on_join = false", "prompt_on_join = true")
    (rules_dir / "self_intro.toml").write_text(text, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    for rid in ("r1", "r2", "r3"):
        await request(chat, "u8", "随便", rid)
    assert await chat.engine.store.run(strikes, "qq:g1", "u8") == 3
    removed = await joined(chat, "u8", inviter="u1")
    # Only join_threshold speaks: no intro prompt, no nickname check, no welcome queued, no intro case left.
    assert [(a.plugin, a.name, a.reason) for a in removed] == [("join_threshold", "kick", "blocked"),
                                                                 ("join_threshold", "send", "blocked")]
    assert await chat.engine.store.run(open_cases, ("intro", "welcome")) == []


async def test_a_failed_quiz_ends_the_chain_even_when_pending_members_may_chat(make_engine, rules_dir):
    text = (rules_dir / "join_threshold.toml").read_text(encoding="utf-8").replace('"answer_only"', '"free"')
    (rules_dir / "join_threshold.toml").write_text(text, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    await joined(chat, "u7", inviter="u1")
    for _ in range(2):
        await chat.say("不知道", user="u7")
    last = platform(await chat.say("签到", user="u7"))
    assert [(a.plugin, a.reason) for a in last] == [("join_threshold", "quiz_failed")] * 2  # no check-in after the kick


async def test_who_gets_in_is_the_owner_s_call_and_answer_patterns_stay_in_the_rule_file(chat: Chat):
    refused = await chat.say('/set join_threshold mode "open"', user="boss", role="admin")
    assert reasons(refused) == ["owner_only"] and "只有群主" in refused[0].text
    assert reasons(await chat.say('/set join_threshold invite_codes ["x"]', user="boss", role="admin")) == ["owner_only"]
    assert reasons(await chat.say('/set join_threshold quiz_minutes 5', user="boss", role="admin")) == ["setting_changed"]
    # A regular expression runs on every answer in the process: not even the owner sets one from the chat.
    evil = '/set join_threshold questions [{ask = "?", patterns = ["(a+)+$"]}]'
    assert reasons(await chat.say(evil, user="root", role="owner")) == ["file_only"]
    assert reasons(await chat.say('/set join_threshold mode "open"', user="root", role="owner")) == ["setting_changed"]
    assert chat.engine.rulebook.effective("join_threshold", "qq:g1").mode == "open"
    assert reasons(await chat.say('/unset join_threshold mode', user="boss", role="admin")) == ["owner_only"]


async def join_at(engine, when, user: str, platform: str = "qq"):
    engine.clock.set(when)
    return await engine.handle(MemberJoined(at=when, platform=platform, group="g1", user=user, name=user, inviter="u1"))


def removed(actions) -> list:
    return [(a.name, getattr(a, "user", None) or a.mentions[0]) for a in actions if a.reason == "quiz_timeout"]


async def test_newcomers_whose_deadlines_fall_in_the_same_second_are_each_removed(chat: Chat):
    """Quiz deadlines are one timer per newcomer: two in the same second are both kept, and neither holds
    up a later newcomer's."""
    start = chat.now
    await join_at(chat.engine, start + timedelta(seconds=1, milliseconds=200), "u7")
    await join_at(chat.engine, start + timedelta(seconds=1, milliseconds=700), "u8")
    deadline = start + timedelta(minutes=10, seconds=1)
    assert removed(await chat.engine.scheduler.run_due(deadline)) == []
    fired = await chat.engine.scheduler.run_due(deadline + timedelta(seconds=1))
    assert removed(fired) == [("kick", "u7"), ("send", "u7"), ("kick", "u8"), ("send", "u8")]
    later = start + timedelta(minutes=20)
    await join_at(chat.engine, later, "u9")
    assert removed(await chat.engine.scheduler.run_due(later + timedelta(minutes=10) - timedelta(microseconds=1))) == []
    assert removed(await chat.engine.scheduler.run_due(later + timedelta(minutes=10))) == [("kick", "u9"), ("send", "u9")]
    assert await chat.engine.store.run(open_cases, ("quiz",)) == []
    assert await chat.engine.store.run(stored_timers) == []


async def test_pending_lists_every_open_case_once(make_engine, rules_dir):
    text = (rules_dir / "join_threshold.toml").read_text(encoding="utf-8").replace('mode = "answer"', 'mode = "review"')
    (rules_dir / "join_threshold.toml").write_text(text, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    await request(chat, "r4", "公众号", "r9")
    await joined(chat, "v6", inviter="u1")
    await chat.say("/通过 v6", user="boss", role="admin")  # let in: owes an introduction now
    await joined(chat, "v7", inviter="u1")
    listed = await chat.say("/待审核", user="boss", role="admin")
    assert [(a.plugin, a.reason) for a in listed] == [("join_threshold", "pending_listed")]  # one answer, not one per plugin
    assert all(words in listed[0].text for words in ("r4", "入群申请待审核", "v6", "待自我介绍", "v7", "入群待审核"))
    # Without join_threshold, self_intro offers the same list.
    (rules_dir / "join_threshold.toml").unlink()
    chat.engine.load_rules()
    listed = await chat.say("/pending", user="boss", role="admin")
    assert [(a.plugin, a.reason) for a in listed] == [("self_intro", "pending_listed")] and "v6" in listed[0].text


# ----------------------------------------------------------------------------- restarts: timers are stored, state is read lazily

QUIZ_AND_INTRO = ("quiz_timeout", "welcome", "intro_reminder", "intro_overdue_remind")


async def verification_under_way(engine) -> tuple[Chat, dict]:
    """q1 owes a quiz answer, i1 passed theirs and owes an introduction (and a welcome); returns when each
    of their timers is due."""
    chat = Chat(engine)
    await joined(chat, "q1", inviter="x")
    quiz = chat.now + timedelta(minutes=10)
    await joined(chat, "i1", inviter="x")
    await chat.say("朋友介绍的", user="i1")
    intro = chat.now + timedelta(hours=24)
    dues = {"welcome": chat.now + timedelta(seconds=30), "quiz_timeout": quiz, "intro_reminder": intro - timedelta(hours=6),
            "intro_reminder_2": intro - timedelta(hours=1), "intro_overdue_remind": intro}
    return chat, dues


async def fire(engines, until) -> list:
    """Every engine arms what the others stored (as a live process does every half minute) and fires what
    is due by ``until``, at the same time; the admission plugins' platform actions, in order."""
    for engine in engines:
        await engine.scheduler.arm_stored(until)
    results = await asyncio.gather(*(engine.scheduler.run_due(until) for engine in engines))
    return [a for fired in results for a in platform(fired) if a.reason in QUIZ_AND_INTRO]


async def each_fires_once_at_its_time(engines, dues: dict) -> None:
    tick = timedelta(microseconds=1)
    for what, due in sorted(dues.items(), key=lambda kv: kv[1]):
        assert await fire(engines, due - tick) == [], what
        fired = await fire(engines, due)
        assert [a.reason for a in fired] == [what.removesuffix("_2")] + (["quiz_timeout"] if what == "quiz_timeout" else []), what
    assert await fire(engines, max(dues.values()) + timedelta(days=3)) == []


async def test_after_a_restart_each_deadline_fires_once_at_its_time(make_engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    first = await make_engine(db_url=url)
    chat, dues = await verification_under_way(first)
    await first.close()
    # A new process on the same database: no hook rebuilds anything, the timers are stored.
    second = await make_engine(db_url=url, start=chat.now)
    again = Chat(second, start=chat.now)
    # Who is pending is read from the database on the group's first message: q1's words are still an answer.
    assert reasons(await again.say("不知道", user="q1")) == ["pending", "wrong_answer"]
    assert reasons(await again.say("大家好", user="i1")) == []  # chat, not an introduction
    await each_fires_once_at_its_time([second], dues)
    # After the deadline the introduction is still owed, and a labelled one still counts.
    late = await again.say("城市：上海 行业：电商 称呼：小i", user="i1", when=dues["intro_overdue_remind"] + timedelta(hours=1))
    assert reasons(late)[0] == "intro_confirmed"
    assert await second.store.run(open_cases, ("quiz", "intro", "welcome")) == []


@needs_pg
async def test_two_processes_on_postgres_fire_each_deadline_once(make_engine):
    await wipe_pg()
    first = await make_engine(db_url=PG_URL)
    chat, dues = await verification_under_way(first)
    second = await make_engine(db_url=PG_URL, start=chat.now)  # armed at start with what the first stored
    await each_fires_once_at_its_time([first, second], dues)
    assert await first.store.run(open_cases, ("quiz", "welcome")) == []
    assert await first.store.run(stored_timers) == []


async def test_pending_is_one_command_for_members_and_in_help(chat: Chat):
    assert reasons(await chat.say("/pending", user="u1")) == ["not_permitted"]  # told once, not per plugin
    shown = [line for line in texts(await chat.say("/help", user="boss", role="admin"))[0].splitlines() if "/pending" in line]
    assert len(shown) == 1 and "正在验证" in shown[0]
