"""Mute windows: a Monday lecture window on and off, holidays skipped, the 调休 Sunday, a bot started
inside a window and after one, overlapping windows, platforms without mute-all, /quiet and /mute_window."""

import json
from datetime import timedelta

from bot.config import QunbotConfig
from bot.replay import replay
from tests.conftest import Chat, at, reasons, texts
from tests.test_replay import records, write_events

LECTURE = """
enabled = true
[windows.lecture]
days = ["mon"]
time = "09:00-10:00"
makeup_workdays = "{makeup}"
"""


def lecture_rules(rules_dir, makeup: str = "skip", extra: str = ""):
    (rules_dir / "mute_window.toml").write_text(LECTURE.format(makeup=makeup) + extra, encoding="utf-8")
    return rules_dir


async def run_until(engine, until):
    fired = []
    engine.sink = lambda actions, when: fired.extend((when.astimezone(at("2026-01-01 00:00").tzinfo).strftime("%m-%d %H:%M"), a) for a in actions)
    await engine.scheduler.run_due(until)
    return [(when, a.name, getattr(a, "on", None)) for when, a in fired if a.plugin == "mute_window"]


async def test_a_monday_window_mutes_at_nine_and_lifts_at_ten(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir), start=at("2026-11-22 20:00"))
    chat = Chat(engine, start=at("2026-11-22 20:00"))
    assert await chat.say("周日晚上好") == []
    fired = await run_until(engine, at("2026-11-24 12:00"))
    assert fired == [("11-23 09:00", "mute_all", True), ("11-23 09:00", "send", None),
                     ("11-23 10:00", "mute_all", False), ("11-23 10:00", "send", None)]


async def test_a_monday_public_holiday_is_skipped_and_the_makeup_sunday_runs(make_engine, rules_dir):
    # 2026-10-05 is a Monday of the National Day holiday; 2026-09-20 a Sunday worked in exchange (调休).
    engine = await make_engine(lecture_rules(rules_dir, makeup="apply"), start=at("2026-09-19 12:00"))
    await Chat(engine, start=at("2026-09-19 12:00")).say("hi")
    fired = await run_until(engine, at("2026-10-06 00:00"))
    days = sorted({when for when, name, on in fired if name == "mute_all" and on})
    assert days == ["09-20 09:00", "09-21 09:00", "09-28 09:00"]


async def test_the_makeup_sunday_is_skipped_unless_the_rules_say_so(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir, makeup="skip"), start=at("2026-09-19 12:00"))
    await Chat(engine, start=at("2026-09-19 12:00")).say("hi")
    fired = await run_until(engine, at("2026-09-21 00:00"))
    assert fired == []


async def test_replay_started_inside_a_window_begins_muted(tmp_path, rules_dir):
    events = write_events(tmp_path / "ev.jsonl", [
        {"at": "2026-11-23T09:30:00+08:00", "event": "message", "group": "g1", "user": "u1", "id": "m1", "text": "早"}])
    out = tmp_path / "out.jsonl"
    until = at("2026-11-23 11:00")
    await replay(events, lecture_rules(rules_dir), QunbotConfig(), until=until, out=out)
    lines = [(r["at"], r["action"], r.get("on")) for r in records(out.read_text(encoding="utf-8")) if r["plugin"] == "mute_window"]
    assert lines == [("2026-11-23T09:30:00+08:00", "mute_all", True), ("2026-11-23T09:30:00+08:00", "send", None),
                     ("2026-11-23T10:00:00+08:00", "mute_all", False), ("2026-11-23T10:00:00+08:00", "send", None)]


async def test_a_restart_inside_a_window_mutes_and_after_it_lifts(tmp_path, make_engine, rules_dir):
    url = f"sqlite:///{tmp_path / 'mw.sqlite'}"
    rules = lecture_rules(rules_dir)
    first = await make_engine(rules, db_url=url, start=at("2026-11-22 20:00"))
    await Chat(first, start=at("2026-11-22 20:00")).say("hi")
    inside = await make_engine(rules, db_url=url, start=at("2026-11-23 09:30"))
    assert await run_until(inside, at("2026-11-23 09:30")) == [("11-23 09:30", "mute_all", True), ("11-23 09:30", "send", None)]
    after = await make_engine(rules, db_url=url, start=at("2026-11-23 12:00"))  # down across 10:00
    assert await run_until(after, at("2026-11-23 12:00")) == [("11-23 12:00", "mute_all", False), ("11-23 12:00", "send", None)]


async def test_overlapping_windows_merge(make_engine, rules_dir):
    extra = '[windows.more]\ndays = "every"\ntime = "09:30-11:00"\n'
    engine = await make_engine(lecture_rules(rules_dir, extra=extra), start=at("2026-11-22 20:00"))
    await Chat(engine, start=at("2026-11-22 20:00")).say("hi")
    fired = [(w, on) for w, name, on in await run_until(engine, at("2026-11-23 12:00")) if name == "mute_all"]
    assert fired == [("11-23 09:00", True), ("11-23 11:00", False)]


async def test_without_mute_all_the_window_is_announced_and_members_reminded(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir), start=at("2026-11-23 09:10"))
    chat = Chat(engine, platform="wechat", start=at("2026-11-23 09:10"))
    first = await chat.say("早上好", user="u1")
    assert reasons(first) == ["window_start", "window_reminder"]
    assert "无法自动全员禁言" in first[0].text and "10:00" in first[1].text
    assert await chat.say("还在吗", user="u1") == []  # reminded once per window
    assert await chat.say("请安静", user="boss", role="admin") == []
    assert reasons(await chat.say("你好", user="u2")) == ["window_reminder"]


async def test_quiet_starts_an_adhoc_window_and_quiet_on_holds_past_a_window(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir), start=at("2026-11-24 15:00"))
    chat = Chat(engine, start=at("2026-11-24 15:00"))
    assert reasons(await chat.say("/quiet 30m", user="u1")) == ["not_permitted"]
    started = await chat.say("/quiet 30m", user="boss", role="admin")
    assert [(a.name, getattr(a, "on", None)) for a in started] == [("mute_all", True), ("send", None)]
    assert await run_until(engine, chat.now + timedelta(minutes=31)) == [("11-24 15:30", "mute_all", False), ("11-24 15:30", "send", None)]
    assert reasons(await chat.say("/quiet on", user="boss", role="admin", when=at("2026-11-30 08:00"))) == ["window_start", "window_start"]
    fired = await run_until(engine, at("2026-11-30 12:00"))
    assert [f for f in fired if f[1] == "mute_all"] == []  # the Monday window neither re-mutes nor lifts the hold
    assert reasons(await chat.say("/quiet off", user="boss", role="admin")) == ["window_end", "window_end"]
    assert reasons(await chat.say("/quiet soon", user="boss", role="admin")) == ["usage"]


async def test_mute_window_lists_the_next_windows(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir), start=at("2026-11-23 09:10"))
    shown = await Chat(engine, start=at("2026-11-23 09:10")).say("/mute_window", user="boss", role="admin")
    text = shown[-1].text
    assert "11-23 09:00 – 11-23 10:00（进行中）" in text and "11-30 09:00" in text and "12-07 09:00" in text


async def test_mute_window_shows_the_adhoc_quiet_s_end_in_the_group_s_time(make_engine, rules_dir):
    engine = await make_engine(lecture_rules(rules_dir), start=at("2026-11-24 15:00"))
    chat = Chat(engine, start=at("2026-11-24 15:00"))
    await chat.say("/quiet 45m", user="boss", role="admin")
    text = texts(await chat.say("/安静时段", user="boss", role="admin"))[-1]
    assert "临时安静（/quiet）到 11-24 15:45" in text and "UTC" not in text


async def test_a_year_the_calendar_does_not_know_is_reported_and_runs_by_weekday(make_engine, rules_dir, caplog):
    rules = lecture_rules(rules_dir)
    (rules / "mute_window.toml").write_text(
        '[windows.work]\ndays = "workdays"\ntime = "12:00-13:00"\n', encoding="utf-8")
    start = at("2030-03-03 20:00")  # a Sunday, in a year chinese-calendar has not been told about
    engine = await make_engine(rules, start=start)
    await Chat(engine, start=start).say("hi")
    fired = await run_until(engine, at("2030-03-05 00:00"))
    assert [(w, on) for w, name, on in fired if name == "mute_all"] == [("03-04 12:00", True), ("03-04 13:00", False)]
    assert "the 2030 holiday calendar is not published" in caplog.text


def test_a_broken_window_names_the_file_and_key(tmp_path):
    from bot.engine import check_rules_dir

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mute_window.toml").write_text('[windows.x]\ntime = "9-10"\ndays = ["mon", "funday"]\n', encoding="utf-8")
    errors = [str(e) for e in check_rules_dir(rules)]
    assert any(e.startswith("mute_window.toml: windows.x.time:") for e in errors)
    assert any(e.startswith("mute_window.toml: windows.x.days") for e in errors)
    assert json.dumps(errors, ensure_ascii=False)
