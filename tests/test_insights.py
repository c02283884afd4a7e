"""The operator's view: stages named from a 60-day history, one dead-group alert, the chart, layers, report."""

import struct
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import ROOT, Chat, at, reasons
from tests.test_replay import records, run_replay, write_events

BEIJING = ZoneInfo("Asia/Shanghai")
START = date(2026, 9, 1)


def speakers(group: str, day: int) -> int:
    if group == "grow":
        return round(3 * 1.05 ** day)
    if group == "stable":
        return 10
    return 20 if day < 30 else max(0, 20 - (day - 30))  # fade: silent from day 50


def history() -> list[dict]:
    events = []
    for day in range(60):
        for group in ("grow", "stable", "fade"):
            moment = datetime.combine(START + timedelta(days=day), datetime.min.time(), BEIJING) + timedelta(hours=10)
            for n in range(speakers(group, day)):
                for repeat in range(2):
                    at = moment + timedelta(seconds=n * 10 + repeat)
                    events.append({"at": at.isoformat(), "event": "message", "group": group, "user": f"{group}{n}",
                                   "name": f"成员{n}", "id": f"{group}-{day}-{n}-{repeat}", "text": "今天聊点什么"})
            if group == "grow":
                events.append({"at": (moment + timedelta(hours=1)).isoformat(), "event": "member_joined", "group": group,
                               "user": f"new{day}", "name": "新人"})
    end = datetime.combine(START + timedelta(days=59), datetime.min.time(), BEIJING) + timedelta(hours=21, minutes=30)
    for group in ("grow", "stable", "fade"):
        events.append({"at": end.isoformat(), "event": "message", "group": group, "user": "boss", "role": "owner",
                       "id": f"stage-{group}", "text": "/stage"})
    events.sort(key=lambda e: e["at"])
    return events


def test_sixty_days_of_three_groups_name_their_stages_and_alert_the_fading_one_once(tmp_path, only_rules):
    result = run_replay(str(write_events(tmp_path / "history.jsonl", history())), "--rules", str(only_rules("insights")))
    assert result.returncode == 0, result.stderr
    out = [r for r in records(result.stdout) if r["plugin"] == "insights"]
    stages = {r["group"]: r["text"] for r in out if r["reason"] == "stage"}
    assert "阶段：成长期" in stages["grow"] and "阶段：成熟期" in stages["stable"] and "阶段：衰退期" in stages["fade"]
    assert "发言人数两周内从 11 降到 1，下降 91%" in stages["fade"]  # the reasoning is shown, not just a label
    alerts = [r for r in out if r["reason"] == "dead_group_alert"]
    assert [a["group"] for a in alerts] == ["fade"]
    assert "死群" in alerts[0]["text"] and "/接龙" in alerts[0]["text"]
    weekly = [r for r in out if r["reason"] == "weekly_report"]
    assert {r["group"] for r in weekly} == {"grow", "stable", "fade"} and all(r["image"].endswith(".png") for r in weekly)


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


async def test_stats_answers_with_a_png_chart_of_thirty_days(chat_with):
    chat = await chat_with("insights", "checkin")  # the chart counts check-ins too
    for day in range(5):
        await chat.say("签到", user="u1", when=datetime(2026, 11, 19 + day, 9, tzinfo=BEIJING))
    assert reasons(await chat.say("/stats", user="u2")) == ["not_permitted"]
    [answer] = await chat.say("/统计", user="boss", role="admin")
    assert answer.reason == "stats_chart" and "签到 5 次" in answer.text
    width, height = png_size(answer.image)
    assert width > 400 and height > 300


async def test_layers_sort_members_by_recent_activity(chat_with):
    chat = await chat_with(insights="core_messages = 5\nactive_messages = 2\n")
    for n in range(6):
        await chat.say(f"消息{n}", user="talker", name="话痨")
    for n in range(2):
        await chat.say(f"消息{n}", user="regular", name="常客")
    await chat.say("在", user="lurker", name="潜水员")
    text = (await chat.say("/layers", user="boss", role="owner"))[0].text
    assert "核心 1 人：话痨" in text and "活跃 1 人：常客" in text and "潜水 2 人：boss、潜水员" in text


def test_report_command_draws_the_chart(tmp_path, only_rules):
    db = tmp_path / "q.sqlite"
    events = write_events(tmp_path / "ev.jsonl", history()[:300])
    assert run_replay(str(events), "--db", f"sqlite:///{db}", "--rules", str(only_rules("insights"))).returncode == 0
    config = tmp_path / "c.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n', encoding="utf-8")
    out = tmp_path / "report.png"
    result = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--group", "qq:stable", "--out", str(out),
                             "--config", str(config), "--days", "90"], capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "qq:stable：近 90 天消息" in result.stdout and png_size(str(out))[0] > 400
    roster = tmp_path / "members.csv"
    result = subprocess.run([sys.executable, "-m", "bot.cli", "export", "--group", "qq:stable", "--out", str(roster),
                             "--config", str(config)], capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "qq:stable: 10 members written" in result.stdout and roster.read_text(encoding="utf-8-sig").count("\n") == 11


async def test_export_members_writes_the_groups_roster_as_csv_for_owners_only(chat_with):
    import csv

    # The roster shows what the admission quiz and the self-introduction learnt of a member, and red_packet
    # (which keeps join dates for anniversaries) when they joined.
    chat = await chat_with("insights", "join_threshold", "self_intro", "red_packet")
    elsewhere = Chat(chat.engine, group="g2")
    await chat.join("u1", "小王")
    await chat.say("朋友介绍", user="u1", name="小王")  # the join quiz's answer
    await chat.say("城市：上海\n行业：电商\n称呼：小王", user="u1", name="小王")
    for n in range(3):
        await chat.say(f"聊天{n}", user="u2", name="老张")
    await elsewhere.say("别的群的人", user="stranger", name="路人")
    assert reasons(await chat.say("/export members", user="u2", name="老张")) == ["not_permitted"]
    assert reasons(await chat.say("/导出 成员", user="adm", role="admin")) == ["not_permitted"]
    assert reasons(await chat.say("/export", user="boss", role="owner")) == ["usage"]
    [answer] = await chat.say("/导出 成员", user="boss", role="owner")
    assert answer.reason == "members_exported" and answer.file.endswith(".csv")
    with open(answer.file, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    by_id = {row["成员ID"]: row for row in rows}
    assert "stranger" not in by_id and {"u1", "u2", "boss", "adm"} <= set(by_id)
    assert by_id["u2"]["昵称"] == "老张" and by_id["u2"]["近30天消息"] == "4" and by_id["u2"]["分层"] == "潜水"
    # The introduction's fields under the names the group's introduction gives them.
    assert by_id["u1"]["城市"] == "上海" and by_id["u1"]["行业"] == "电商" and by_id["u1"]["入群日期"] == "2026-11-23"
    assert not any(key.isascii() for key in rows[0])
    assert f"{len(rows)} 位成员" in answer.text


def test_replay_keeps_an_exported_file_beside_its_output(tmp_path, only_rules):
    events = write_events(tmp_path / "ev.jsonl", [
        {"at": "2026-11-23T09:00:00+08:00", "event": "message", "group": "g1", "user": "u1", "id": "m1", "text": "签到"},
        {"at": "2026-11-23T09:01:00+08:00", "event": "message", "group": "g1", "user": "boss", "role": "owner", "id": "m2",
         "text": "/export members"}])
    out = tmp_path / "actions.jsonl"
    assert run_replay(str(events), "--out", str(out), "--rules", str(only_rules("insights", "checkin"))).returncode == 0
    [export] = [r for r in records(out.read_text(encoding="utf-8")) if r["reason"] == "members_exported"]
    assert export["file"].startswith(str(tmp_path / "actions_images"))
    assert "u1" in open(export["file"], encoding="utf-8-sig").read()


async def test_the_weekly_report_names_the_weeks_top_speakers_and_newcomers_owing_an_introduction(chat_with):
    # The newcomers owing an introduction are self_intro's open cases (after join_threshold's quiz).
    chat = await chat_with("insights", "join_threshold", "self_intro", start=at("2026-11-17 10:00"))  # a Tuesday
    await chat.say("大家好", user="first", name="群主助理")  # the bot first sees the group
    # Six days later: not a week to report on yet.
    assert [r for r in reasons(await chat.advance(to=at("2026-11-24 10:00"))) if r.startswith("weekly")] == []
    for n in range(4):
        await chat.say(f"话题{n}", user="talker", name="话痨")
    await chat.say("在", user="quiet", name="小透明")
    await chat.join("new1", "新朋友")
    await chat.say("朋友介绍", user="new1", name="新朋友")  # passes the join quiz, still owes an introduction
    assert [r for r in reasons(await chat.advance(to=at("2026-11-30 08:59"))) if r.startswith("weekly")] == []
    [(when, report)] = [(w, a) for w, a in await chat.timeline(to=at("2026-11-30 09:01")) if a.reason == "weekly_report"]
    assert when == at("2026-11-30 09:00")  # the next Monday
    assert "本周发言最多：话痨（4 条）、" in report.text and "小透明（1 条）" in report.text
    assert "还没自我介绍的新人 1 位：新朋友" in report.text and report.image.endswith(".png")


async def test_stats_counts_only_the_days_since_the_bot_joined(chat_with):
    chat = await chat_with("insights", "checkin", start=at("2026-11-30 10:00"))
    for day in ("2026-11-30 10:00", "2026-12-01 09:00", "2026-12-02 09:00", "2026-12-03 09:00"):
        await chat.say("签到", user="u1", when=at(day))
    [answer] = await chat.say("/统计", user="boss", role="admin", when=at("2026-12-03 20:00"))
    assert answer.text.startswith("📊 近 4 天群数据"), answer.text  # not "近 30 天" of which 26 were never counted
    assert "签到 4 次" in answer.text
    stage = (await chat.say("/stage", user="boss", role="admin", when=at("2026-12-03 20:01")))[0].text
    # Weeks before the bot joined are not shown as quiet weeks ("0 → 0 → 5").
    assert "机器人在本群才 3 天" in stage and "· 至今消息数：6" in stage and "→" not in stage, stage
