"""Quizzes: a round from the bank, lenient answers, points once through the ledger, time limits as timers,
a scoreboard at the end."""

from __future__ import annotations

from datetime import timedelta

import shutil

import pytest

from bot.engine import SHIPPED_RULES
from bot.store.points import recompute_totals, standing
from plugins.quiz import is_right, normalise
from tests.conftest import reasons, texts, timers

ONE_BANK = """
questions_per_round = 2
seconds_per_question = 30
points = 10
banks = []
[[questions]]
ask = "红公鸡，绿尾巴，身体钻到地底下"
answers = ["胡萝卜", "萝卜"]
kind = "灯谜"
[[questions]]
ask = "千里相逢"
answers = ["重"]
kind = "灯谜"
"""


@pytest.mark.parametrize("said", ["胡萝卜", " 胡 萝 卜！", "胡蘿蔔", "是胡萝卜吧", "（胡萝卜）", "萝卜"])
def test_lenient_answers(said):
    assert is_right(said, ["胡萝卜", "萝卜"])


@pytest.mark.parametrize("said, answers", [("我觉得肯定不是胡萝卜而是别的", ["胡萝卜"]), ("胡萝", ["胡萝卜"]),
                                            ("重要", ["重"])])  # a one-character answer is the whole message or nothing
def test_what_is_not_an_answer(said, answers):
    assert not is_right(said, answers)


def test_normalise():
    assert normalise("Ｈｅｌｌｏ， 世界！") == "hello世界"


async def test_a_round_awards_the_first_right_answer_once(chat_with):
    chat = await chat_with("quiz", "points", quiz=ONE_BANK)
    opened = await chat.say("/竞猜", user="u1")
    assert reasons(opened) == ["quiz_started", "quiz_question", "question"]
    first = texts(opened)[1]
    answer = "胡萝卜" if "红公鸡" in first else "重"
    assert reasons(await chat.say("不知道", user="u2")) == []
    won = await chat.say(answer, user="u2", name="小李")
    assert reasons(won) == ["quiz_right", "quiz_question", "question"] and "小李 答对了" in texts(won)[0]
    assert reasons(await chat.say(answer, user="u3")) == []  # too late: that question is gone
    fired = await chat.advance(by=timedelta(seconds=31))
    assert reasons(fired) == ["quiz_missed", "quiz_ended", "question"]
    assert "1. 小李 — 10 分" in texts(fired)[1]
    totals = await chat.engine.store.run(recompute_totals, "qq:g1")
    assert totals == {"u2": 10}
    member = await chat.engine.store.run(standing, "qq:g1", "u2")
    assert member["points"] == 10


async def test_the_same_message_delivered_twice_pays_once(chat_with):
    from bot.model import MessageReceived

    chat = await chat_with("quiz", quiz=ONE_BANK.replace("questions_per_round = 2", "questions_per_round = 1"))
    opened = await chat.say("/竞猜 灯谜 1")
    answer = "胡萝卜" if "红公鸡" in texts(opened)[1] else "重"
    event = MessageReceived(at=chat.now + timedelta(seconds=1), group="g1", user="u2", name="小李", id="dup", text=answer)
    assert reasons(await chat.engine.handle(event)) == ["quiz_right", "quiz_ended", "question"]
    assert reasons(await chat.engine.handle(event)) == []
    assert await chat.engine.store.run(recompute_totals, "qq:g1") == {"u2": 10}


async def test_the_shipped_bank_and_kinds(chat_with):
    chat = await chat_with("quiz")
    shutil.copytree(SHIPPED_RULES / "quiz", chat.engine.services.rules_dir / "quiz")  # the bank files beside the rule file
    opened = await chat.say("/竞猜 灯谜 2")
    assert "第 1/2 题【灯谜】" in texts(opened)[1] and timers(opened)[0].due == chat.now + timedelta(seconds=60)
    assert reasons(await chat.say("/竞猜")) == ["quiz_running"]
    assert reasons(await chat.say("/结束竞猜", user="u9")) == ["not_permitted"]
    assert reasons(await chat.say("/结束竞猜", user="u1")) == ["quiz_ended", "question"]
    assert "现有类别：灯谜、群知识" in texts(await chat.say("/竞猜 历史"))[0]


async def test_a_broken_bank_file_is_reported_and_the_rest_is_used(chat_with):
    chat = await chat_with("quiz", quiz=ONE_BANK.replace("banks = []", 'banks = ["quiz/bad.toml", "quiz/missing.toml"]'))
    folder = chat.engine.services.rules_dir / "quiz"
    folder.mkdir()
    (folder / "bad.toml").write_text('[[questions]]\nask = "x"\n', encoding="utf-8")
    opened = await chat.say("/竞猜")
    assert "quiz_question" in reasons(opened)
    problems = [a.text for a in opened if a.name == "report"]
    assert len(problems) == 2 and "bad.toml: questions[0].answers: Field required" in problems[0]
    assert "no bank file" in problems[1]


async def test_a_bank_file_broken_by_an_edit_keeps_its_last_good_questions(chat_with):
    chat = await chat_with("quiz", quiz=ONE_BANK.split("[[questions]]")[0].replace("banks = []", 'banks = ["quiz/b.toml"]'))
    folder = chat.engine.services.rules_dir / "quiz"
    folder.mkdir()
    (folder / "b.toml").write_text('[[questions]]\nask = "千里相逢"\nanswers = ["重"]\n', encoding="utf-8")
    assert "千里相逢" in texts(await chat.say("/竞猜"))[1]
    await chat.say("/结束竞猜")
    (folder / "b.toml").write_text('[[questions]]\nask = "千里相逢"\nanswers = "重"\n', encoding="utf-8")
    opened = await chat.say("/竞猜")
    assert "千里相逢" in texts(opened)[1]
    assert [a.text for a in opened if a.name == "report"] == [
        f"quiz qq:g1: {folder / 'b.toml'}: questions[0].answers: Input should be a valid list (got '重'); its last good "
        "questions stay"]


def test_check_names_broken_and_missing_bank_files(only_rules):
    from bot.engine import check_rules_dir

    rules = only_rules(quiz=ONE_BANK.replace("banks = []", 'banks = ["quiz/bad.toml", "quiz/missing.toml"]'))
    (rules / "quiz").mkdir()
    (rules / "quiz" / "bad.toml").write_text('[[questions]]\nask = "x"\nanswers = []\n', encoding="utf-8")
    assert [str(e) for e in check_rules_dir(rules)] == [
        f"quiz.toml: banks: {rules / 'quiz' / 'bad.toml'}: questions[0].answers: List should have at least 1 item "
        "after validation, not 0 (got [])",
        f"quiz.toml: banks: no bank file at {rules / 'quiz' / 'missing.toml'}"]


async def test_a_round_survives_a_restart(make_engine, only_rules, tmp_path):
    from tests.conftest import Chat

    rules, db = only_rules(quiz=ONE_BANK), f"sqlite:///{tmp_path / 'q.sqlite'}"
    first = Chat(await make_engine(rules, db_url=db))
    await first.say("/竞猜")
    await first.engine.close()
    again = Chat(await make_engine(rules, db_url=db), start=first.now)
    fired = await again.advance(by=timedelta(seconds=61))
    assert reasons(fired) == ["quiz_missed", "quiz_question", "question", "quiz_missed", "quiz_ended", "question"]
