"""The operator's view: stages named from a 60-day history, one dead-group alert, the chart, layers, report."""

import struct
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import ROOT, Chat, reasons
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


def test_sixty_days_of_three_groups_name_their_stages_and_alert_the_fading_one_once(tmp_path):
    result = run_replay(str(write_events(tmp_path / "history.jsonl", history())))
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


async def test_stats_answers_with_a_png_chart_of_thirty_days(chat: Chat):
    for day in range(5):
        await chat.say("签到", user="u1", when=datetime(2026, 11, 19 + day, 9, tzinfo=BEIJING))
    assert reasons(await chat.say("/stats", user="u2")) == ["not_permitted"]
    [answer] = await chat.say("/统计", user="boss", role="admin")
    assert answer.reason == "stats_chart" and "签到 5 次" in answer.text
    width, height = png_size(answer.image)
    assert width > 400 and height > 300


async def test_layers_sort_members_by_recent_activity(rules_dir, make_engine):
    (rules_dir / "insights.toml").write_text("core_messages = 5\nactive_messages = 2\n", encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    for n in range(6):
        await chat.say(f"消息{n}", user="talker", name="话痨")
    for n in range(2):
        await chat.say(f"消息{n}", user="regular", name="常客")
    await chat.say("在", user="lurker", name="潜水员")
    text = (await chat.say("/layers", user="boss", role="owner"))[0].text
    assert "核心 1 人：话痨" in text and "活跃 1 人：常客" in text and "潜水 2 人：boss、潜水员" in text


def test_report_command_draws_the_chart(tmp_path):
    db = tmp_path / "q.sqlite"
    events = write_events(tmp_path / "ev.jsonl", history()[:300])
    assert run_replay(str(events), "--db", f"sqlite:///{db}").returncode == 0
    config = tmp_path / "c.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n', encoding="utf-8")
    out = tmp_path / "report.png"
    result = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--group", "qq:stable", "--out", str(out),
                             "--config", str(config), "--days", "90"], capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "qq:stable：近 90 天消息" in result.stdout and png_size(str(out))[0] > 400
