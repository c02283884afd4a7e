"""Operator and admin regular expressions run on RE2 (bot/safe_regex.py): a pattern that needs backtracking
is refused with a `file: key: problem` line, and no pattern can make matching take more than linear time.

The hang checks run in a child process with a time limit: on Python's re they would never return."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from bot import safe_regex
from bot.engine import SHIPPED_RULES, check_rules_dir
from tests.conftest import ROOT, Chat, reasons, texts

REFUSED = {r"(\d)\1{4}": "backreferences", "(?=x)y": "lookahead", "(?!x)y": "lookahead", "(?<=a)b": "lookbehind",
           "(?<!a)b": "lookbehind", "(?P<n>a)(?P=n)": "backreferences", "(?>a)": "atomic", "a++": "possessive",
           r"x\Z": r"\\z", "a{2000}": "at most 1000", r"\p{L}{1,1000}": "memory"}


@pytest.mark.parametrize("pattern", sorted(REFUSED))
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern):
    with pytest.raises(safe_regex.PatternError, match=REFUSED[pattern]):
        safe_regex.check(pattern)


def test_a_catastrophic_pattern_is_accepted_and_matches_in_linear_time():
    start = time.perf_counter()
    regex = safe_regex.compile("(a+)+$")
    assert regex.search("a" * 5000 + "!") is None and regex.search("xaaa").group() == "aaa"
    assert time.perf_counter() - start < 1.0  # sre: 2**5000 steps


def test_only_the_first_max_text_characters_are_searched():
    regex = safe_regex.compile("needle")
    assert regex.search("x" * (safe_regex.MAX_TEXT - 6) + "needle")
    assert regex.search("x" * safe_regex.MAX_TEXT + "needle") is None
    assert safe_regex.compile("x+").fullmatch("x" * (safe_regex.MAX_TEXT + 1)) is None
    # A lone surrogate (which JSON escapes can carry in) is no text RE2 can read: it matches as "?".
    assert regex.search("\ud800needle").span() == (1, 7)
    assert [m.group() for m in safe_regex.compile("b+").finditer("\ud800bb b")] == ["bb", "b"]
    quick = safe_regex.compile("b+|日赚")
    assert [quick.matches(t) for t in ("aaa", "abb", "\ud800b", "x日赚", "x" * safe_regex.MAX_TEXT + "b")] == \
        [False, True, True, True, False]


def test_qunbot_check_names_the_file_the_key_and_the_problem(tmp_path):
    (tmp_path / "anti_ad.toml").write_text('[lists.ads]\nwords = ["加我"]\npatterns = ["(?<=加)微信"]\n', encoding="utf-8")
    (tmp_path / "join_threshold.toml").write_text(
        '[[questions]]\nask = "暗号？"\npatterns = ["(\\\\w)\\\\1"]\n', encoding="utf-8")
    errors = [str(e) for e in check_rules_dir(tmp_path)]
    assert any(e.startswith("anti_ad.toml: lists.ads.patterns: ") and "lookbehind" in e for e in errors), errors
    assert any(e.startswith("join_threshold.toml: questions[0].patterns: ") and "backreferences" in e for e in errors), errors
    result = subprocess.run([sys.executable, "-m", "bot.cli", "check", "--rules", str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1 and "anti_ad.toml: lists.ads.patterns: " in result.stdout


async def test_set_reports_a_pattern_re2_cannot_take(chat: Chat):
    actions = await chat.say('/set anti_ad lists.ads.patterns ["(?<=加)微信"]', role="owner")
    assert reasons(actions) == ["invalid_value"] and "lookbehind" in texts(actions)[0]


async def test_shipped_patterns_still_catch_what_they_caught(chat: Chat):
    assert "part_time" in reasons(await chat.say("兼职日赚300元一单，私聊", user="spammer"))  # a shipped pattern's list


HANG = textwrap.dedent("""
    import asyncio, sys, tempfile
    from pathlib import Path
    from plugins.admission.join_threshold import Question
    from bot.adscan import ListSpec, Scanner
    from bot.config import QunbotConfig
    from bot.engine import SHIPPED_RULES, Engine
    from bot.scheduler import VirtualClock
    from tests.conftest import Chat, at, reasons

    assert not Question(ask="?", patterns=["(a+)+$"]).accepts("a" * 40 + "!")
    assert Scanner([ListSpec("x", (), ("(a+)+$",), 2)], ()).scan("a" * 40 + "中").score == 0

    async def main(folder):
        engine = await Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{folder}/h.db",
                                     clock=VirtualClock(at("2026-11-23 09:00")))
        try:
            chat = Chat(engine)
            print(*reasons(await chat.say('/set nickname labels { a = "甲" }', role="owner")))
            print(*reasons(await chat.say('/set nickname pattern "' + "{a}" * 33 + '"', role="owner")))
            name = "a" * 45 + "-"
            await chat.join("u9", name=name)
            await chat.say("大家好", user="u9", name=name)
            await chat.say("签到", user="u9", name=name)
        finally:
            await engine.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(folder))
    print("done")
""")


def test_hostile_patterns_never_freeze_the_process():
    """`/set nickname pattern "{a}{a}{a}…"` and a 45-character name froze the bot (sre backtracks through
    every way of cutting the name); so does (a+)+$ in a join question or an ad list."""
    result = subprocess.run([sys.executable, "-c", HANG], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stdout.split() == ["setting_changed", "setting_changed", "done"], result.stderr[-2000:]


def test_shipped_rules_compile_on_re2():
    assert [str(e) for e in check_rules_dir(SHIPPED_RULES)] == []
