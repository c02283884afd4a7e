"""Mute windows: a Monday lecture window on and off, holidays skipped, the 调休 Sunday, a bot started
inside a window and after one, overlapping windows, platforms without mute-all, /quiet and /mute_window."""

import json
from datetime import timedelta

from bot.config import QunbotConfig
from bot.replay import replay
from bot.model import MuteAll
from tests.conftest import BEIJING, Chat, at, kinds, reasons, reports, texts
from tests.test_replay import records, write_events

LECTURE = """
enabled = true
[windows.lecture]
days = ["mon"]
time = "09:00-10:00"
makeup_workdays = "{makeup}"
"""


def lecture(makeup: str = "skip", extra: str = "") -> str:
    """mute_window.toml: the Monday lecture window, 09:00-10:00."""
    return LECTURE.format(makeup=makeup) + extra


async def lecture_chat(chat_with, start, makeup: str = "skip", extra: str = "", **kw) -> Chat:
    """A chat in a group where only mute_window runs, with the lecture window, from ``start``."""
    return await chat_with(mute_window=lecture(makeup, extra), start=start, **kw)


def hm(when) -> str:
    return when.astimezone(BEIJING).strftime("%m-%d %H:%M")


async def switches(chat: Chat, until) -> list[tuple[str, bool]]:
    """Advance to ``until``: the group muted (True) and unmuted (False), each at the time it fell due."""
    fired = await chat.timeline(to=until)
    assert {type(effect) for _, effect in fired} <= {MuteAll}, fired
    return [(hm(when), effect.on) for when, effect in fired]


async def test_a_monday_window_mutes_at_nine_and_lifts_at_ten(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-22 20:00"))
    assert await chat.say("周日晚上好") == []
    assert await switches(chat, at("2026-11-23 08:59")) == []
    [mute] = await chat.advance(to=at("2026-11-23 09:00"))
    assert (mute.on, mute.reason, mute.plugin) == (True, "window_start", "mute_window")
    # What the group is told comes with the mute: announced after it here, said instead of it elsewhere.
    assert "到 10:00 结束" in mute.announce and "期间全员禁言" in mute.announce
    assert "无法自动全员禁言" in mute.fallback
    assert [(a.name, getattr(a, "on", None)) for a in chat.delivered([mute])] == [("mute_all", True), ("send", None)]
    assert chat.delivered([mute])[1].text == mute.announce
    assert await switches(chat, at("2026-11-23 09:59")) == []
    [lift] = await chat.advance(to=at("2026-11-23 10:00"))
    assert (lift.on, lift.reason) == (False, "window_end") and "安静时段结束" in lift.announce
    assert await switches(chat, at("2026-11-24 12:00")) == []


async def test_a_monday_public_holiday_is_skipped_and_the_makeup_sunday_runs(chat_with):
    # 2026-10-05 is a Monday of the National Day holiday; 2026-09-20 a Sunday worked in exchange (调休).
    chat = await lecture_chat(chat_with, at("2026-09-19 12:00"), makeup="apply")
    await chat.say("hi")
    days = [when for when, on in await switches(chat, at("2026-10-06 00:00")) if on]
    assert days == ["09-20 09:00", "09-21 09:00", "09-28 09:00"]


async def test_the_makeup_sunday_is_skipped_unless_the_rules_say_so(chat_with):
    chat = await lecture_chat(chat_with, at("2026-09-19 12:00"), makeup="skip")
    await chat.say("hi")
    assert await switches(chat, at("2026-09-21 00:00")) == []


async def test_replay_started_inside_a_window_begins_muted(tmp_path, only_rules):
    events = write_events(tmp_path / "ev.jsonl", [
        {"at": "2026-11-23T09:30:00+08:00", "event": "message", "group": "g1", "user": "u1", "id": "m1", "text": "早"}])
    out = tmp_path / "out.jsonl"
    until = at("2026-11-23 11:00")
    await replay(events, only_rules(mute_window=lecture()), QunbotConfig(), until=until, out=out)
    lines = [(r["at"], r["action"], r.get("on")) for r in records(out.read_text(encoding="utf-8"))]
    # Replay prints what QQ receives: the mute, then its announcement.
    assert lines == [("2026-11-23T09:30:00+08:00", "mute_all", True), ("2026-11-23T09:30:00+08:00", "send", None),
                     ("2026-11-23T10:00:00+08:00", "mute_all", False), ("2026-11-23T10:00:00+08:00", "send", None)]


async def test_a_restart_inside_a_window_mutes_and_after_it_lifts(tmp_path, chat_with):
    url = f"sqlite:///{tmp_path / 'mw.sqlite'}"
    first = await lecture_chat(chat_with, at("2026-11-22 20:00"), db_url=url)
    await first.say("hi")
    inside = await lecture_chat(chat_with, at("2026-11-23 09:30"), db_url=url)
    assert await switches(inside, at("2026-11-23 09:30")) == [("11-23 09:30", True)]
    after = await lecture_chat(chat_with, at("2026-11-23 12:00"), db_url=url)  # down across 10:00
    assert await switches(after, at("2026-11-23 12:00")) == [("11-23 12:00", False)]


async def test_overlapping_windows_merge(chat_with):
    extra = '[windows.more]\ndays = "every"\ntime = "09:30-11:00"\n'
    chat = await lecture_chat(chat_with, at("2026-11-22 20:00"), extra=extra)
    await chat.say("hi")
    assert await switches(chat, at("2026-11-23 12:00")) == [("11-23 09:00", True), ("11-23 11:00", False)]


async def test_without_mute_all_the_window_is_announced_and_members_reminded(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-23 09:10"), platform="wechat")
    first = await chat.say("早上好", user="u1")
    assert reasons(first) == ["window_start", "window_reminder"]
    # WeChat cannot mute all: the group gets the fallback words instead of the mute, then the reminder.
    told = chat.delivered(first)
    assert [a.name for a in told] == ["send", "send"]
    assert "无法自动全员禁言" in told[0].text and "10:00" in told[1].text and told[1].mentions == ("u1",)
    assert await chat.say("还在吗", user="u1") == []  # reminded once per window
    assert await chat.say("请安静", user="boss", role="admin") == []
    assert reasons(await chat.say("你好", user="u2")) == ["window_reminder"]


async def test_quiet_starts_an_adhoc_window_and_quiet_on_holds_past_a_window(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-24 15:00"))
    assert reasons(await chat.say("/quiet 30m", user="u1")) == ["not_permitted"]
    started = await chat.say("/quiet 30m", user="boss", role="admin")
    assert kinds(started) == ["mute_all", "timer"] and started[0].on
    assert (started[1].timer, started[1].due) == ("adhoc_end", chat.now + timedelta(minutes=30))
    assert await switches(chat, chat.now + timedelta(minutes=31)) == [("11-24 15:30", False)]  # the timer ends it
    held = await chat.say("/quiet on", user="boss", role="admin", when=at("2026-11-30 08:00"))
    assert kinds(held) == ["mute_all", "cancel_timer"] and held[0].on and held[1].timer == "adhoc_end"
    assert await switches(chat, at("2026-11-30 12:00")) == []  # the Monday window neither re-mutes nor lifts the hold
    lifted = await chat.say("/quiet off", user="boss", role="admin")
    assert kinds(lifted) == ["mute_all", "cancel_timer"] and not lifted[0].on
    assert reasons(await chat.say("/quiet soon", user="boss", role="admin")) == ["usage"]


async def test_quiet_off_cancels_the_adhoc_timer(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-24 15:00"))
    await chat.say("/quiet 30m", user="boss", role="admin")
    lifted = await chat.say("/quiet off", user="boss", role="admin")
    assert kinds(lifted) == ["mute_all", "cancel_timer"] and not lifted[0].on
    assert await chat.advance(by=timedelta(hours=1)) == []


async def test_a_quiet_window_ends_on_time_after_a_restart(tmp_path, chat_with):
    url = f"sqlite:///{tmp_path / 'mw.sqlite'}"
    chat = await lecture_chat(chat_with, at("2026-11-24 15:00"), db_url=url)
    assert kinds(await chat.say("/quiet 30m", user="boss", role="admin")) == ["mute_all", "timer"]
    await chat.engine.close()
    again = await lecture_chat(chat_with, at("2026-11-24 15:10"), db_url=url)  # the stored adhoc_end timer is armed
    assert await switches(again, at("2026-11-24 15:29")) == []  # still quiet: the restart changes nothing
    assert await switches(again, at("2026-11-24 16:00")) == [("11-24 15:30", False)]


async def test_mute_window_lists_the_next_windows(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-23 09:10"))
    shown = await chat.say("/mute_window", user="boss", role="admin")
    text = shown[-1].text
    assert "11-23 09:00 – 11-23 10:00（进行中）" in text and "11-30 09:00" in text and "12-07 09:00" in text


async def test_mute_window_shows_the_adhoc_quiet_s_end_in_the_group_s_time(chat_with):
    chat = await lecture_chat(chat_with, at("2026-11-24 15:00"))
    await chat.say("/quiet 45m", user="boss", role="admin")
    text = texts(await chat.say("/安静时段", user="boss", role="admin"))[-1]
    assert "临时安静（/quiet）到 11-24 15:45" in text and "UTC" not in text


async def test_a_year_the_calendar_does_not_know_is_reported_and_runs_by_weekday(chat_with):
    start = at("2030-03-03 20:00")  # a Sunday, in a year chinese-calendar has not been told about
    chat = await chat_with(mute_window='[windows.work]\ndays = "workdays"\ntime = "12:00-13:00"\n', start=start)
    said = await chat.say("hi")
    assert kinds(said) == ["report"] and said[0].reason == "calendar_unknown"
    assert "the 2030 holiday calendar is not published" in reports(said)[0]
    assert await switches(chat, at("2030-03-05 00:00")) == [("03-04 12:00", True), ("03-04 13:00", False)]  # reported once


def test_a_broken_window_names_the_file_and_key(tmp_path):
    from bot.engine import check_rules_dir

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mute_window.toml").write_text('[windows.x]\ntime = "9-10"\ndays = ["mon", "funday"]\n', encoding="utf-8")
    errors = [str(e) for e in check_rules_dir(rules)]
    assert any(e.startswith("mute_window.toml: windows.x.time:") for e in errors)
    assert any(e.startswith("mute_window.toml: windows.x.days") for e in errors)
    assert json.dumps(errors, ensure_ascii=False)
