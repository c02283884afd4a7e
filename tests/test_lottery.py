"""Lotteries: start, entries by keyword and command, eligibility, a draw at the deadline that anyone can
recompute from the published seed (scripts/verify_lottery.py), once, after a restart too."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.model import SendMessage
from plugins.lottery import commitment, draw, parse_deadline, roster_digest
from tests.conftest import BEIJING, ROOT, at, reasons, texts, timers


def published(text: str, label: str) -> str:
    return re.search(label + r"[^0-9a-f]*([0-9a-f]{64})", text).group(1)


def verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_lottery.py"), *args], capture_output=True, text=True)


async def test_a_lottery_from_start_to_a_verifiable_draw(chat_with):
    chat = await chat_with("lottery")
    started = await chat.say("/抽奖 红包 2 20:00 我要红包", user="boss", role="admin")
    assert reasons(started) == ["lottery_started", "draw"]
    promised = published(texts(started)[0], "sha256 =")
    assert timers(started)[0].due == at("2026-11-23 20:00")
    for user in ("u1", "u2", "u3", "u4"):
        assert reasons(await chat.say("我要红包", user=user)) == ["entry_entered"]
    assert reasons(await chat.say("我要红包", user="u1")) == []  # a keyword said twice is taken once, quietly
    assert reasons(await chat.say("/参与抽奖", user="u1")) == ["entry_already"]
    assert reasons(await chat.say("/参与抽奖", user="u5")) == ["entry_entered"]
    fired = await chat.advance(to=at("2026-11-23 20:00"))
    [announced] = [a for a in fired if isinstance(a, SendMessage)]
    seed = re.search(r"种子：([0-9a-f]{64})", announced.text).group(1)
    entrants = ["u1", "u2", "u3", "u4", "u5"]
    assert announced.mentions == tuple(draw(seed, entrants, 2)) and len(announced.mentions) == 2
    assert commitment(seed) == promised
    digest = published(announced.text, "参与名单摘要：")
    assert digest == roster_digest(entrants) and "参与者：u1 u2 u3 u4 u5" in announced.text
    checked = verify("--seed", seed, "--commitment", promised, "--winners", "2", "--digest", digest, *reversed(entrants))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.split() == list(announced.mentions)
    assert "已开奖" in texts(await chat.say("/抽奖 名单"))[0]
    assert reasons(await chat.say("我要红包", user="u6")) == []  # no lottery open any more


def test_the_script_refuses_a_seed_that_was_not_committed_and_a_changed_roster():
    seed = "ab" * 32
    assert verify("--seed", seed, "--commitment", commitment("cd" * 32), "--winners", "1", "u1").returncode == 1
    wrong = verify("--seed", seed, "--commitment", commitment(seed), "--winners", "1", "--digest", roster_digest(["u1"]), "u1", "u2")
    assert wrong.returncode == 1 and "digest" in wrong.stderr


def test_the_draw_depends_on_the_seed_and_the_set_of_ids_only():
    ids = [f"u{i}" for i in range(50)]
    assert draw("s1", ids, 5) == draw("s1", list(reversed(ids)) + ids[:3], 5)
    assert draw("s1", ids, 5) != draw("s2", ids, 5)
    assert draw("s1", ids, 100) == sorted(ids, key=lambda u: __import__("hashlib").sha256(f"s1:{u}".encode()).hexdigest())


async def test_eligibility_newcomers_checkins_and_mutes(chat_with):
    chat = await chat_with("lottery", "checkin", lottery="min_checkin_days = 1\n")
    await chat.say("签到", user="old")
    await chat.say("/抽奖 书 1 1h", user="boss", role="admin")
    await chat.join("new")
    assert reasons(await chat.say("/参与抽奖", user="new")) == ["entry_too_new"]
    assert reasons(await chat.say("/参与抽奖", user="lazy")) == ["entry_checkins"]
    assert reasons(await chat.say("参与抽奖", user="old")) == ["entry_entered"]


async def test_members_cannot_start_and_bad_input_changes_nothing(chat_with):
    chat = await chat_with("lottery")
    assert "只有管理员" in texts(await chat.say("/抽奖 红包 1 1h"))[0]
    for bad, why in (("/抽奖 红包 0 1h", "invalid_count"), ("/抽奖 红包 1 昨天", "invalid_deadline"),
                     ("/抽奖 红包 1 9999h", "invalid_deadline"), ("/抽奖 红包 两 1h", "usage"), ("/抽奖 红包 1 1h /x", "invalid_keyword")):
        assert reasons(await chat.say(bad, role="admin")) == [why]
    assert reasons(await chat.say("/抽奖")) == ["no_lottery"]


async def test_a_restart_keeps_the_deadline_and_two_processes_draw_once(make_engine, only_rules, tmp_path):
    from tests.conftest import Chat

    rules, db = only_rules("lottery"), f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = Chat(await make_engine(rules, db_url=db))
    await first.say("/抽奖 红包 1 30m", user="boss", role="admin")
    await first.say("参与抽奖", user="u1")
    await first.engine.close()
    again = Chat(await make_engine(rules, db_url=db), start=first.now)
    other = Chat(await make_engine(rules, db_url=db), start=first.now)
    fired = await again.advance(by=timedelta(minutes=31)) + await other.advance(by=timedelta(minutes=31))
    assert reasons(fired).count("lottery_drawn") == 1


async def test_admins_draw_early_or_cancel(chat_with):
    chat = await chat_with("lottery")
    await chat.say("/抽奖 红包 1 2h", user="boss", role="admin")
    await chat.say("参与抽奖", user="u1")
    assert reasons(await chat.say("/抽奖 开奖", role="admin")) == ["lottery_drawn", "drawn", "draw"]
    assert reasons(await chat.advance(by=timedelta(hours=3))) == []
    await chat.say("/抽奖 红包 1 2h", user="boss", role="admin")
    assert reasons(await chat.say("/抽奖 取消", role="admin")) == ["lottery_cancelled", "draw"]


@pytest.mark.parametrize("text, expected", [
    ("30m", "2026-11-23 09:30"), ("2小时", "2026-11-23 11:00"), ("1天", "2026-11-24 09:00"), ("20:00", "2026-11-23 20:00"),
    ("08:00", "2026-11-24 08:00"), ("明天20：00", "2026-11-24 20:00"), ("12-24T20:00", "2026-12-24 20:00"),
    ("2027-01-02t08:30", "2027-01-02 08:30")])
def test_deadlines(text, expected):
    assert parse_deadline(text, at("2026-11-23 09:00"), BEIJING) == at(expected)


@pytest.mark.parametrize("text", ["25:00", "02-30T10:00", "soon", ""])
def test_deadlines_not_understood(text):
    assert parse_deadline(text, at("2026-11-23 09:00"), BEIJING) is None


async def test_two_processes_receiving_the_same_messages_answer_once(make_engine, only_rules, tmp_path):
    from bot.model import MessageReceived

    rules, db = only_rules("lottery"), f"sqlite:///{tmp_path / 'both.sqlite'}"
    engines = [await make_engine(rules, db_url=db), await make_engine(rules, db_url=db)]
    said = []
    for i, (user, text, role) in enumerate((("boss", "/抽奖 红包 1 1h", "admin"), ("u1", "参与抽奖", "member"),
                                            ("u1", "/参与抽奖", "member"), ("boss", "/抽奖 取消", "admin"))):
        event = MessageReceived(at=at("2026-11-23 09:00") + timedelta(seconds=i), group="g1", user=user, role=role,
                                id=f"m{i}", text=text)
        said += [reasons(await engine.handle(event)) for engine in engines]
    assert said == [["lottery_started", "draw"], [], ["entry_entered"], [], ["entry_already"], [],
                    ["lottery_cancelled", "draw"], []]
