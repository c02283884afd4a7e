"""Scheduled posts: workdays, calendar context, yesterday's figures, rotation, festivals, exactly once."""

from datetime import datetime, timedelta

import pytest

import plugins.daily_posts
from bot.config import QunbotConfig
from bot.engine import Engine
from bot.rules import load_rule_file
from tests.conftest import Chat, at, kinds, reasons, reports, texts
from tests.test_replay import records, run_replay, write_events

SUNDAY = [
    {"at": "2026-11-22T00:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m1", "text": "周日快乐"},
    {"at": "2026-11-22T09:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m2", "text": "签到"},
    {"at": "2026-11-22T09:05:00+08:00", "event": "message", "group": "g1", "user": "u2", "name": "小李", "id": "m3", "text": "大家好"},
    {"at": "2026-11-22T10:00:00+08:00", "event": "member_joined", "group": "g1", "user": "u3", "name": "新人"},
]


def posts(out: list[dict], name: str = "") -> list[dict]:
    return [r for r in out if r["plugin"] == "daily_posts" and (not name or r["text"].startswith(name))]


def test_workday_morning_post_from_sunday_to_tuesday(tmp_path, only_rules):
    # checkin beside daily_posts: the morning post counts yesterday's check-ins.
    rules = str(only_rules("daily_posts", "checkin"))
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", SUNDAY)), "--rules", rules, "--until", "2026-11-24T00:00:00+08:00")
    assert result.returncode == 0, result.stderr
    mornings = posts(records(result.stdout), "☀️")
    assert [m["at"] for m in mornings] == ["2026-11-23T08:00:00+08:00"]  # Monday only
    text = mornings[0]["text"]
    assert "11月23日 星期一" in text and "农历十月十五" in text
    assert "昨日群里：3 条消息，2 人发言，1 人签到，新成员 1 位" in text
    assert "小王（2 条）、小李（1 条）" in text
    assert "新朋友记得先看群公告" in text  # the first item of the tips rotation
    evenings = posts(records(result.stdout), "🌙")
    assert [e["at"] for e in evenings] == ["2026-11-22T22:00:00+08:00", "2026-11-23T22:00:00+08:00"]


async def test_the_morning_after_the_bot_arrived_has_yesterday_but_its_first_morning_does_not(chat_with):
    chat = await chat_with(daily_posts='[posts.morning]\ntime = "08:00"\ntemplate = "daily_posts/morning"\n',
                           start=at("2026-11-23 07:00"))
    await chat.say("早", user="u1", name="小王")
    first = [a.text for w, a in await chat.timeline(to=at("2026-11-23 09:00")) if a.reason == "scheduled_post"]
    second = [a.text for w, a in await chat.timeline(to=at("2026-11-24 09:00")) if a.reason == "scheduled_post"]
    assert len(first) == 1 and "昨日" not in first[0]  # the day before the bot was there: not "0 条消息"
    assert "昨日群里：1 条消息，1 人发言" in second[0] and "小王（1 条）" in second[0]


def test_replay_twice_on_one_database_posts_once(tmp_path, only_rules):
    events = write_events(tmp_path / "ev.jsonl", SUNDAY)
    db, rules = f"sqlite:///{tmp_path / 'kept.sqlite'}", str(only_rules("daily_posts"))
    first = run_replay(str(events), "--db", db, "--rules", rules, "--until", "2026-11-23T09:00:00+08:00")
    again = run_replay(str(events), "--db", db, "--rules", rules, "--until", "2026-11-23T09:00:00+08:00")
    assert len(posts(records(first.stdout), "☀️")) == 1
    assert posts(records(again.stdout)) == []


def test_spring_festival_gets_the_greeting_even_on_a_holiday(tmp_path, only_rules):
    eve = [{"at": "2026-02-16T20:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "text": "过年好"}]
    out = records(run_replay(str(write_events(tmp_path / "ev.jsonl", eve)), "--rules", str(only_rules("daily_posts")),
                             "--until", "2026-02-17T12:00:00+08:00").stdout)
    [greeting] = [r for r in out if r["at"] == "2026-02-17T08:00:00+08:00"]
    assert greeting["reason"] == "festival_greeting"
    assert "新春快乐" in greeting["text"] and "农历正月初一" in greeting["text"] and "丙午马年" in greeting["text"]


async def engine_with_rules(only_rules, make_engine, text: str, start: datetime, **kw) -> Engine:
    """An engine running daily_posts alone, on the rules ``text``."""
    return await make_engine(only_rules(daily_posts=text), start=start, **kw)


ROTATING = """
[posts.tip]
time = "09:00"
template = "daily_posts/evening"
rotation = "quotes"
festival = "ignore"
[rotations.quotes]
order = "{order}"
items = ["甲", "乙", "丙", "丁"]
[rotations.quotes.dated]
2026-11-25 = "特别"
"""


async def run_days(engine: Engine, group: str, first: str, days: int) -> list[str]:
    """The rotation items posted in ``days`` days from ``first``."""
    engine.scheduler.plan_group(group)
    end = datetime.fromisoformat(first) + timedelta(days=days)
    return [text.split("📖 ")[1].split("\n")[0] for text in texts(await engine.scheduler.run_due(end)) if "📖" in text]


async def test_rotation_in_order_with_a_dated_item(only_rules, make_engine):
    engine = await engine_with_rules(only_rules, make_engine, ROTATING.format(order="sequential"), at("2026-11-23 00:00"))
    items = await run_days(engine, "qq:g1", "2026-11-23T00:00:00+08:00", 6)
    assert items == ["甲", "乙", "特别", "丙", "丁", "甲"]


async def test_random_rotation_repeats_nothing_within_a_pass(only_rules, make_engine):
    engine = await engine_with_rules(only_rules, make_engine, ROTATING.format(order="random"), at("2026-12-01 00:00"))
    items = await run_days(engine, "qq:g1", "2026-12-01T00:00:00+08:00", 8)
    assert sorted(items[:4]) == sorted(items[4:]) == ["丁", "丙", "乙", "甲"]


async def test_preview_and_post_now_are_for_admins_and_preview_does_not_advance(only_rules, make_engine):
    engine = await engine_with_rules(only_rules, make_engine, ROTATING.format(order="sequential"), at("2026-11-23 00:00"))
    chat = Chat(engine, start=at("2026-11-23 10:00"))
    assert reasons(await chat.say("/preview tip")) == ["not_permitted"]
    preview = await chat.say("/预览 tip", role="admin")
    assert reasons(preview) == ["preview"] and preview[0].text.startswith("【预览】") and "📖 甲" in preview[0].text
    posted = await chat.say("/post tip", role="owner")
    assert reasons(posted) == ["posted_now"] and "📖 甲" in posted[0].text  # the preview did not use 甲 up
    assert "📖 乙" in texts(await chat.say("/post tip", role="owner"))[0]
    assert reasons(await chat.say("/preview nosuch", role="admin")) == ["usage"]


class SteppedClock:
    """A live-like clock for tests: it does not jump to each slot, so lateness is real."""

    def __init__(self, now: datetime):
        self.t = now

    def now(self) -> datetime:
        return self.t

    def set(self, t: datetime) -> None:
        self.t = t


@pytest.mark.parametrize("restart, sent", [("2026-11-23 08:20", True), ("2026-11-23 08:40", False)])
async def test_a_post_missed_during_downtime_is_sent_within_grace_else_skipped_and_reported(tmp_path, restart, sent):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "daily_posts.toml").write_text('[posts.morning]\ntime = "08:00"\ntemplate = "daily_posts/morning"\n', encoding="utf-8")
    engine = await Engine.create(QunbotConfig(), rules_dir, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", clock=SteppedClock(at(restart)))
    try:
        engine.scheduler.plan_group("qq:g1", catch_up=True)  # as at start-up for a known group
        fired = await engine.scheduler.run_due(engine.clock.now())
        if sent:
            assert kinds(fired) == ["send"] and reasons(fired) == ["scheduled_post"]
        else:  # skipped, and the operators told why
            assert kinds(fired) == ["report"] and reasons(fired) == ["late_slot"]
            assert reports(fired) == ["qq:g1: morning post due at 2026-11-23T08:00:00+08:00 skipped: 40 minutes late (grace 30)"]
    finally:
        await engine.close()


async def test_no_catch_up_nor_late_report_for_a_slot_before_the_group_was_first_seen(tmp_path):
    """A group first seen at 10:00, the bot restarted at 10:05: its 08:00 post was never due there."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "daily_posts.toml").write_text('[posts.morning]\ntime = "08:00"\ntemplate = "daily_posts/morning"\n'
                                                '[posts.noon]\ntime = "10:03"\ntemplate = "daily_posts/morning"\n', encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = await Engine.create(QunbotConfig(), rules_dir, db_url=db, clock=SteppedClock(at("2026-11-23 10:00")))
    try:
        await Chat(first).say("大家好", when=at("2026-11-23 10:00"))
    finally:
        await first.close()
    restarted = await Engine.create(QunbotConfig(), rules_dir, db_url=db, clock=SteppedClock(at("2026-11-23 10:05")))
    try:
        fired = await restarted.scheduler.run_due(restarted.clock.now())
        # The 10:03 slot came after the group was seen (and within grace): caught up; 08:00 neither sent nor reported.
        assert kinds(fired) == ["send"] and reasons(fired) == ["scheduled_post"], fired
        assert restarted.scheduler.next_due() == at("2026-11-24 08:00")
    finally:
        await restarted.close()


async def test_unknown_year_falls_back_to_weekdays_and_says_so_once(chat_with):
    rules = '[posts.morning]\ntime = "08:00"\ndays = "workdays"\ntemplate = "daily_posts/morning"\nfestival = "ignore"\n'
    chat = await chat_with(daily_posts=rules, start=at("2031-03-02 00:00"))  # a Sunday
    chat.engine.scheduler.plan_group("qq:g1")
    fired = await chat.timeline(to=at("2031-03-09 00:00"))
    # Sunday's slot finds no calendar for 2031 (and posts nothing on a weekend): the operators hear of it once.
    assert [(when.strftime("%a"), effect.name) for when, effect in fired] == [
        ("Sun", "report"), ("Mon", "send"), ("Tue", "send"), ("Wed", "send"), ("Thu", "send"), ("Fri", "send")]
    assert "the 2031 holiday calendar is not published" in reports(effect for _, effect in fired)[0]
    assert reasons(effect for _, effect in fired)[0] == "calendar_unknown"


async def test_makeup_workday_is_a_workday(only_rules, make_engine):
    rules = '[posts.morning]\ntime = "08:00"\ndays = "workdays"\ntemplate = "daily_posts/morning"\nfestival = "ignore"\n'
    engine = await engine_with_rules(only_rules, make_engine, rules, at("2026-02-13 09:00"))
    engine.scheduler.plan_group("qq:g1")
    [saturday] = await engine.scheduler.run_due(at("2026-02-16 00:00"))  # 2026-02-14 is a Saturday worked in lieu of the Spring Festival holiday
    assert "2月14日 星期六" in saturday.text and "调休上班日" in saturday.text


def test_rule_errors_name_the_post_and_key(tmp_path):
    path = tmp_path / "daily_posts.toml"
    path.write_text('festivals = ["圣诞"]\n[posts.morning]\ntime = "25:00"\ntemplate = "x"\ndays = "someday"\n', encoding="utf-8")
    _, errors = load_rule_file(path, "daily_posts", plugins.daily_posts.DailyPostsRules)
    paths = sorted(e.path for e in errors)
    assert paths[0] == "festivals" and "posts.morning.time" in paths and any(p.startswith("posts.morning.days") for p in paths)


async def test_every_group_due_at_once_gets_its_post_once(only_rules, make_engine):
    rules = '[posts.morning]\ntime = "08:00"\ntemplate = "daily_posts/morning"\n'
    engine = await engine_with_rules(only_rules, make_engine, rules, at("2026-11-23 07:00"))
    for i in range(200):
        engine.scheduler.plan_group(f"qq:g{i}")
    fired = await engine.scheduler.run_due(at("2026-11-23 08:00"))
    assert await engine.scheduler.run_due(at("2026-11-23 09:00")) == []
    assert sorted(a.group for a in fired) == sorted(f"g{i}" for i in range(200))


SECRET_ROTATION = """
[posts.tip]
time = "09:00"
template = "daily_posts/evening"
rotation = "quotes"
festival = "ignore"
[rotations.quotes]
folder = "{folder}"
"""


@pytest.mark.parametrize("folder", ["/etc", "../outside", "tips/../../outside", "~/x"])
def test_a_rotation_folder_outside_the_rules_folder_is_refused_by_check(rules_dir, folder):
    (rules_dir / "daily_posts.toml").write_text(SECRET_ROTATION.format(folder=folder), encoding="utf-8")
    rule_file, errors = load_rule_file(rules_dir / "daily_posts.toml", "daily_posts", plugins.daily_posts.DailyPostsRules)
    assert rule_file is None
    assert [str(e).split(": ")[:2] for e in errors] == [["daily_posts.toml", "rotations.quotes.folder"]]
    assert "inside the rules folder" in str(errors[0])


async def test_a_symlinked_rotation_folder_leading_out_is_not_read(tmp_path, make_engine):
    outside = tmp_path / "server"
    outside.mkdir()
    (outside / "secret.txt").write_text("DB_PASSWORD=hunter2\n", encoding="utf-8")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "tips").symlink_to(outside, target_is_directory=True)
    (rules_dir / "daily_posts.toml").write_text(SECRET_ROTATION.format(folder="tips"), encoding="utf-8")
    engine = await make_engine(rules_dir, start=at("2026-11-23 00:00"))
    engine.scheduler.plan_group("qq:g1")
    fired = await engine.scheduler.run_due(at("2026-11-23 09:30"))
    assert kinds(fired) == ["report", "send"] and "hunter2" not in fired[1].text
    [reported] = reports(fired)
    assert reported.startswith("daily_posts.toml: rotations.quotes.folder: ") and "outside" in reported


async def test_admins_and_owners_cannot_point_a_rotation_at_the_server_s_files(chat_with):
    chat = await chat_with("daily_posts")
    for role in ("admin", "owner"):
        for command in ('/set daily_posts rotations.tips.folder "/etc"', '/set daily_posts rotations.tips.folder "sub"',
                        '/set daily_posts rotations {x = {folder = "../.."}}'):
            refused = await chat.say(command, user="boss", role=role)
            assert reasons(refused) in (["file_only"], ["invalid_value"]), (role, command)
    assert "只能由运维" in texts(await chat.say('/set daily_posts rotations.tips.folder "sub"', role="owner"))[0]
    rotations = chat.engine.rulebook.effective("daily_posts", "qq:g1").rotations
    assert all(not r.folder or r.folder == "tips" for r in rotations.values()), rotations
    # Other rotation keys stay with admins.
    assert reasons(await chat.say('/set daily_posts rotations.tips.order "random"', role="admin")) == ["setting_changed"]


async def test_a_folder_stored_by_an_older_set_is_ignored(only_rules, make_engine, caplog):
    engine = await make_engine(only_rules("daily_posts"))
    shipped = engine.rulebook.effective("daily_posts", "qq:g1").rotations["tips"].folder
    engine.rulebook.replace_owner_layers({("daily_posts", "qq:g1"): {"rotations": {"tips": {"folder": "elsewhere"}},
                                                                     "grace_minutes": 5}})
    rules = engine.rulebook.effective("daily_posts", "qq:g1")
    assert rules.rotations["tips"].folder == shipped and rules.grace_minutes == 30  # the whole stored layer waits
    assert "rotations.tips.folder" in caplog.text and "rule files only" in caplog.text
