"""qunbot replay: the stable contract of DESIGN.md, run as a black box through the CLI."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from bot.config import QunbotConfig
from bot.replay import replay
from tests.conftest import ROOT
from tests.test_scheduler import install_tick

THREE_DAYS = [
    {"at": "2026-11-23T08:59:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m1", "text": "签到"},
    {"at": "2026-11-23T09:00:00+08:00", "event": "message", "group": "g1", "user": "u2", "name": "小李", "id": "m2", "text": "打卡", "mood": "unknown fields are ignored"},
    {"at": "2026-11-23T09:05:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m3", "text": "签到"},
    {"at": "2026-11-23T23:59:00+08:00", "event": "message", "group": "g1", "user": "u3", "name": "夜猫", "id": "m4", "text": "签到"},
    {"at": "2026-11-24T00:01:00+08:00", "event": "message", "group": "g1", "user": "u3", "name": "夜猫", "id": "m5", "text": "签到"},
    {"at": "2026-11-24T08:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m6", "text": "签到"},
    {"at": "2026-11-24T12:00:00+08:00", "event": "member_joined", "platform": "telegram", "group": "g1", "user": "u9", "name": "新人"},
    {"at": "2026-11-25T07:30:00+08:00", "event": "message", "group": "g1", "user": "u1", "name": "小王", "id": "m7", "text": "／签到"},
    {"at": "2026-11-25T07:31:00+08:00", "event": "message", "group": "g1", "user": "u2", "name": "小李", "id": "m8", "text": "签到"},
    {"at": "2026-11-25T07:32:00+08:00", "event": "message", "group": "g1", "user": "u2", "name": "小李", "id": "m9", "text": "/top 总"},
]


def write_events(path: Path, events: list, extra_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    for index, line in sorted((extra_lines or {}).items()):
        lines.insert(index, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "replay", *args], capture_output=True, text=True, cwd=ROOT)


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_three_days_of_checkins(tmp_path):
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", THREE_DAYS)))
    assert result.returncode == 0, result.stderr
    out = [r for r in records(result.stdout) if r["plugin"] == "checkin"]  # the shipped rules also post daily
    assert [(r["reply_to"], r["reason"]) for r in out] == [
        ("m1", "checked_in"), ("m2", "checked_in"), ("m3", "already_checked_in"), ("m4", "checked_in"),
        ("m5", "checked_in"), ("m6", "checked_in"), ("m7", "checked_in"), ("m8", "checked_in"), ("m9", "leaderboard"),
    ]
    first = out[0]
    assert first == {
        "at": "2026-11-23T08:59:00+08:00", "action": "send", "platform": "qq", "group": "g1",
        "text": first["text"], "mentions": ["u1"], "reply_to": "m1", "plugin": "checkin", "reason": "checked_in",
    }
    assert "第 1 个" in out[0]["text"] and "第 2 个" in out[1]["text"] and "第 3 个" in out[3]["text"]
    assert "第 1 个" in out[4]["text"] and "连续签到 2 天" in out[4]["text"]  # across midnight Beijing time
    assert "第 2 个" in out[5]["text"] and "连续签到 2 天" in out[5]["text"]
    assert "连续签到 3 天" in out[6]["text"] and "累计 30 积分" in out[6]["text"]
    assert "连续签到 1 天" in out[7]["text"]  # 小李 skipped the 24th
    board = out[8]["text"].splitlines()
    # Ties in points and days go to who got there first: 夜猫's second check-in (the 24th, 00:01) came before 小李's.
    assert board[1:] == ["1. 小王 — 30 积分，签到 3 天", "2. 夜猫 — 20 积分，签到 2 天", "3. 小李 — 20 积分，签到 2 天"]


def test_malformed_lines_are_reported_with_their_number_and_skipped(tmp_path, only_rules):
    bad = {0: "not json at all", 2: '["a list"]', 4: '{"event": "message", "group": "g1"}',
           6: '{"at": "2026-11-23T09:00:00", "event": "message", "group": "g1", "user": "u"}',
           7: '{"at": "2026-11-23T09:00:00+08:00", "event": "teleport", "group": "g1"}'}
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", THREE_DAYS[:3], bad)), "--rules", str(only_rules("checkin")))
    assert result.returncode == 0
    errors = result.stderr.splitlines()  # nothing but the skipped lines
    assert [e.split(":")[1] for e in errors] == ["1", "3", "5", "7", "8"]
    assert "at: Field required" in errors[2] and "needs a UTC offset" in errors[3] and "unknown event 'teleport'" in errors[4]
    assert [r["reason"] for r in records(result.stdout) if r["plugin"] == "checkin"] == ["checked_in", "checked_in", "already_checked_in"]


def test_out_file_and_a_named_database_carry_over(tmp_path):
    db = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    events = write_events(tmp_path / "ev.jsonl", THREE_DAYS[:1])
    first = run_replay(str(events), "--db", db, "--out", str(tmp_path / "one.jsonl"))
    assert first.returncode == 0 and first.stdout == ""
    assert records((tmp_path / "one.jsonl").read_text(encoding="utf-8"))[0]["reason"] == "checked_in"
    # The same log again names the same messages: handled already, nothing to answer twice …
    again = run_replay(str(events), "--db", db)
    assert again.returncode == 0 and [r for r in records(again.stdout) if r["plugin"] == "checkin"] == []
    # … and another 签到 that day is told the database remembers the first.
    later = write_events(tmp_path / "later.jsonl", [{**THREE_DAYS[0], "id": "later-1"}])
    assert records(run_replay(str(later), "--db", db).stdout)[0]["reason"] == "already_checked_in"
    fresh = run_replay(str(events))
    assert records(fresh.stdout)[0]["reason"] == "checked_in"


def test_custom_rules_folder(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "checkin.toml").write_text("base_points = 3\n", encoding="utf-8")
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", THREE_DAYS[:1])), "--rules", str(rules))
    assert "获得 3 积分" in records(result.stdout)[0]["text"]


def test_a_rule_file_check_refuses_stops_the_replay_with_check_s_lines(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "checkin.toml").write_text("base_points = 3\nbase_pionts = 4\n", encoding="utf-8")
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", THREE_DAYS[:1])), "--rules", str(rules))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[0].startswith("checkin.toml: base_pionts: unknown key")


async def test_until_fires_the_jobs_due_after_the_last_event(tmp_path, extra_plugin, capsys):
    rules = install_tick(tmp_path, extra_plugin, "hour = 8\n")
    events = write_events(tmp_path / "ev.jsonl", [THREE_DAYS[3]])  # 23:59 on the 23rd
    until = datetime.fromisoformat("2026-11-26T00:00:00+08:00")
    count = await replay(events, rules, QunbotConfig(), until=until, out=tmp_path / "out.jsonl")
    out = records((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert count == 2
    assert [(r["at"], r["reason"]) for r in out] == [("2026-11-24T08:00:00+08:00", "morning"), ("2026-11-25T08:00:00+08:00", "morning")]


def test_hostile_lines_are_skipped_never_fatal(tmp_path):
    good = json.dumps(THREE_DAYS[0], ensure_ascii=False).encode()
    hostile = [
        b'{"at":"2026-11-23T09:00:00+08:00","event":"message","platform":["qq"],"group":"g1","user":"u"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"at":"2026-11-23T09:00:00+08:00","event":"message","group":"g1","user":"u","text":"\xff\xfe"}',  # not UTF-8
        b'{"at":"2026-11-23T09:00:00+08:00","event":"message","group":"g\\ud800","user":"u"}',
        b'{"at":"2026-11-23T09:00:00+08:00","event":"message","group":"' + b"g" * 201 + b'","user":"u"}',
        b'{"at":"2026-11-23T09:00:00+08:00","event":"schedule_fired","group":"g1","job":"x","slot":"2026-11-23T09:00:00+08:00"}',
        b'{"at":"2026-11-23T09:00:00+08:00","event":"message","group":"","user":"u"}',
        b'{"at":"2026-11-23T09:00:00+08:00","event":"timer_fired","group":"g1","plugin":"idiom_chain","timer":"silence",'
        b'"due":"2026-11-23T09:00:00+08:00"}',  # only the scheduler fires timers
    ]
    events = tmp_path / "ev.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + b"\n".join(hostile) + b"\n")
    result = run_replay(str(events))
    assert result.returncode == 0, result.stderr
    assert [r["reason"] for r in records(result.stdout)] == ["checked_in"]  # the BOM did not cost line 1
    reported = [line.split(":")[1] for line in result.stderr.splitlines() if "line skipped" in line]
    assert reported == [str(n) for n in range(2, 2 + len(hostile))], result.stderr


def test_timers_cancellations_and_reports_are_printed_as_action_lines(tmp_path, only_rules):
    base = {"event": "message", "group": "g1", "platform": "qq"}
    events = write_events(tmp_path / "ev.jsonl", [
        {**base, "at": "2026-11-23T20:00:00+08:00", "user": "u1", "id": "m1", "text": "/接龙"},
        {**base, "at": "2026-11-23T20:00:30+08:00", "user": "u7", "id": "m2", "text": "加 V 💰 x i a o m e i ❤ 8 8 6 6，带你赚钱"},
        {**base, "at": "2026-11-23T20:01:00+08:00", "user": "u1", "id": "m3", "text": "/结束"},
    ])
    result = run_replay(str(events), "--rules", str(only_rules("idiom_chain", "anti_ad")))
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert [(r["action"], r["plugin"], r["reason"]) for r in out] == [
        ("send", "idiom_chain", "game_started"), ("timer", "idiom_chain", "silence"),
        ("delete", "anti_ad", "contact_id"), ("send", "anti_ad", "contact_id"), ("report", "anti_ad", "contact_id"),
        ("send", "idiom_chain", "game_over_command"), ("cancel_timer", "idiom_chain", "silence")]
    timer, report, cancel = out[1], out[4], out[6]
    assert timer == {"at": "2026-11-23T20:00:00+08:00", "action": "timer", "platform": "qq", "group": "g1",
                     "timer": "silence", "key": "", "due": "2026-11-23T20:03:00+08:00", "payload": {},
                     "plugin": "idiom_chain", "reason": "silence"}
    assert report["at"] == "2026-11-23T20:00:30+08:00" and report["text"].startswith("anti_ad qq:g1: warn for u7 (offence 1, ")
    assert cancel == {"at": "2026-11-23T20:01:00+08:00", "action": "cancel_timer", "platform": "qq", "group": "g1",
                      "timer": "silence", "key": "", "plugin": "idiom_chain", "reason": "silence"}


def test_an_at_that_is_not_iso_text_with_date_time_and_offset_is_reported_and_skipped(tmp_path):
    """`"at": 1` was read as a Unix time (1970): the clock then fired 56 years of scheduled jobs."""
    line = THREE_DAYS[0]
    bad = [1, "1", 1790000000.5, None, True, "2026-11-23", "2026-11-23T09:00:00", "09:00:00+08:00", "tomorrow", "2026-13-01T00:00:00+08:00",
           {"$date": "2026-11-23T09:00:00+08:00"}]
    events = [{**line, "at": at, "id": f"x{i}"} for i, at in enumerate(bad)] + [line, {**line, "at": "20261123T090500+0800", "id": "m2"}]
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", events)))
    assert result.returncode == 0, result.stderr
    errors = result.stderr.splitlines()
    assert [e.split(":")[1] for e in errors] == [str(n) for n in range(1, len(bad) + 1)], errors
    assert all(" at: " in e and "line skipped" in e for e in errors), errors
    out = records(result.stdout)
    assert all(r["at"].startswith("2026-11-23T") for r in out), out[:3]  # no job of the years before
    assert [(r["at"], r["reason"]) for r in out if r["plugin"] == "checkin"] == [
        ("2026-11-23T08:59:00+08:00", "checked_in"), ("2026-11-23T09:05:00+08:00", "already_checked_in")]


def test_an_overlong_line_is_reported_without_being_read_whole(monkeypatch):
    import io

    import bot.replay

    monkeypatch.setattr(bot.replay, "MAX_LINE_BYTES", 1000)
    good = json.dumps(THREE_DAYS[0], ensure_ascii=False).encode()
    body = io.BytesIO(b"\n".join([good, b'{"text": "' + b"x" * 5000 + b'"}', good.replace(b"m1", b"m2")]) + b"\n")
    errors = io.StringIO()
    found = [(number, event.id) for number, event in bot.replay.read_events(body, "ev.jsonl", errors)]
    assert found == [(1, "m1"), (3, "m2")]
    assert errors.getvalue() == "ev.jsonl:2: longer than 1,000 bytes; line skipped\n"
