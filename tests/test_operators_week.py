"""A group's week through `qunbot replay` (a black box): keyword answers with their cooldowns, a lottery whose
winners scripts/verify_lottery.py recomputes from the published seed, a quiz that pays once, an inviter
credited once for the invitee who stayed and introduced themselves and not for the one who left the next
day, and a clean-up that warns, spares the one who spoke, removes the others on QQ and Telegram and lists
them on WeCom."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta

from bot.engine import SHIPPED_RULES
from tests.conftest import ROOT
from tests.test_replay import records, run_replay, write_events

QUIZ = """questions_per_round = 1
seconds_per_question = 60
points = 10
banks = []
[[questions]]
ask = "千里相逢"
answers = ["重"]
kind = "灯谜"
hint = "打一字"
"""
CLEANUP = 'silent_days = 3\ncleanup = true\nwarn_hours = 24\n'
GROUPS = {"qq": "g2", "telegram": "-1001000000009", "wecom": "w1"}


def t(day: int, clock: str) -> str:
    """Day 1 is Monday 2026-11-23."""
    return f"{date(2026, 11, 22) + timedelta(days=day)}T{clock}:00+08:00"


def say(day: int, clock: str, user: str, text: str, group: str = "g1", platform: str = "qq", **extra) -> dict:
    return {"at": t(day, clock), "event": "message", "platform": platform, "group": group, "user": user, "name": user,
            "id": f"{platform}-{group}-{day}-{clock}-{user}", "text": text, **extra}


def week() -> list[dict]:
    events = [
        say(1, "09:00", "u1", "请问怎么签到呀"), say(1, "09:00", "u2", "如何签到"),  # the second is within the cooldown
        say(1, "09:02", "u3", "菜单"),
        say(1, "09:05", "admin", "/抽奖 红包 2 2026-11-25T20:00 我要红包", role="admin"),
        say(1, "09:06", "u1", "我要红包"), say(1, "09:07", "u2", "我要红包"), say(1, "09:08", "u3", "我要红包"),
        say(1, "09:09", "u3", "我要红包"),
        say(1, "10:00", "boss", "我拉两个朋友进来"),
        {"at": t(1, "10:01"), "event": "member_joined", "group": "g1", "user": "n1", "name": "小新", "inviter": "boss"},
        {"at": t(1, "10:02"), "event": "member_joined", "group": "g1", "user": "n2", "name": "小二", "inviter": "boss"},
        say(1, "10:05", "n1", "城市：上海 行业：电商 称呼：小新"), say(1, "10:06", "n2", "城市：北京 行业：教育 称呼：小二"),
        {"at": t(2, "08:00"), "event": "member_left", "group": "g1", "user": "n2", "name": "小二"},
        say(2, "09:00", "u2", "怎么签到"),  # a day later: answered again
        say(2, "20:00", "admin", "/竞猜", role="admin"), say(2, "20:00", "u1", "重！"), say(2, "20:01", "u2", "重"),
    ]
    for platform, group in GROUPS.items():  # three members speak on Monday, then sleep; the admin cleans up on Friday
        events += [say(1, "12:00", user, "大家好", group, platform) for user in ("s1", "s2", "s3")]
        events += [say(5, "09:00", "owner", "/清理潜水", group, platform, role="owner"),
                   say(5, "18:00", "s2", "我还在，别清我", group, platform)]
    return sorted(events, key=lambda e: e["at"])


def rules_folder(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("auto_reply", "lottery", "invites", "self_intro", "checkin", "points"):
        shutil.copy(SHIPPED_RULES / f"{name}.toml", folder)
    invites = folder / "invites.toml"  # shipped off
    invites.write_text(invites.read_text(encoding="utf-8").replace("enabled = false", "enabled = true"), encoding="utf-8")
    (folder / "quiz.toml").write_text(QUIZ, encoding="utf-8")
    (folder / "inactive.toml").write_text(CLEANUP, encoding="utf-8")
    return folder


def test_a_week_of_the_operators_tools(tmp_path):
    db = tmp_path / "week.sqlite"
    result = run_replay(str(write_events(tmp_path / "week.jsonl", week())), "--rules", str(rules_folder(tmp_path)),
                        "--db", f"sqlite:///{db}", "--until", t(9, "23:00"))
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    by = lambda plugin, reason=None: [r for r in out if r["plugin"] == plugin and (reason is None or r["reason"] == reason)]  # noqa: E731

    # Keyword answers: u1's question, not u2's within the minute, 菜单 (another entry), u2's the next day.
    assert [(r["at"], r["mentions"]) for r in by("auto_reply", "keyword_answer")] == [
        (t(1, "09:00"), ["u1"]), (t(1, "09:02"), ["u3"]), (t(2, "09:00"), ["u2"])]

    # The lottery: drawn at its deadline, recomputed by the script from what the group was shown.
    [started] = by("lottery", "lottery_started")
    [drawn] = by("lottery", "lottery_drawn")
    assert drawn["at"] == t(3, "20:00") and len(drawn["mentions"]) == 2
    promised = re.search(r"sha256 = ([0-9a-f]{64})", started["text"]).group(1)
    seed = re.search(r"种子：([0-9a-f]{64})", drawn["text"]).group(1)
    ids = re.search(r"参与者：(.+)", drawn["text"]).group(1).split()
    assert ids == ["u1", "u2", "u3"]
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_lottery.py"), "--seed", seed,
                             "--commitment", promised, "--winners", "2", *ids], capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
    assert script.stdout.split() == drawn["mentions"]

    # The quiz: u1 first (punctuation is no matter), u2's answer after it pays nothing.
    assert [r["mentions"] for r in by("quiz", "quiz_right")] == [["u1"]]
    ledger = sqlite3.connect(db).execute("SELECT user_id, plugin, delta FROM points_ledger WHERE plugin IN ('quiz', 'invites')")
    assert sorted(ledger.fetchall()) == [("boss", "invites", 20), ("u1", "quiz", 10)]

    # Invitations: boss is thanked once, for n1 (stayed 7 days, introduced); n2 left the next day.
    [thanks] = [r for r in by("invites", "invitee_qualified") if r["action"] == "send"]
    assert thanks["mentions"] == ["boss"] and "小新" in thanks["text"] and thanks["at"] == t(8, "10:01")

    # The clean-up: s1, s2, s3 warned; s2 spoke and stays; s1 and s3 go on QQ and Telegram, are listed on WeCom.
    for platform, group in GROUPS.items():
        mine = [r for r in out if r["plugin"] == "inactive" and r["group"] == group]
        [warned] = [r for r in mine if r["reason"] == "cleanup_warned" and r["action"] == "send"]
        assert sorted(warned["mentions"]) == ["s1", "s2", "s3"]
        assert [r["mentions"] for r in mine if r["reason"] == "spared"] == [["s2"]]
        kicks = [r["user"] for r in mine if r["action"] == "kick"]
        [told] = [r for r in mine if r["action"] == "send" and r["reason"] in ("cleanup_removed", "cleanup_listed")]
        assert told["at"] == t(6, "09:00") and "s1" in told["text"] and "s3" in told["text"] and "s2（" not in told["text"]
        if platform == "wecom":
            assert kicks == [] and told["reason"] == "cleanup_listed" and "请群主手动处理" in told["text"]
        else:
            assert sorted(kicks) == ["s1", "s3"] and told["reason"] == "cleanup_removed"
