"""Quizzes (竞猜 / 猜灯谜): ``/竞猜`` asks a few questions from the bank, one at a time, each with a time
limit; the first member to answer right gets the points (through the points ledger), and the round ends
with a scoreboard.

The bank is the rule file's ``questions`` plus the ``banks`` files inside the rules folder (riddles,
trivia about the community). Answers are compared leniently: folded (full-width → half-width, lower
case, traditional → simplified), without spaces or punctuation, and a short sentence that contains the
answer counts too. A round lives in ``game_state`` and each question's limit is a stored timer, so it
survives a restart; every answer is one transaction that locks the round, so one question pays once.
"""

from __future__ import annotations

import logging
import random
import tomllib
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.adscan import fold
from bot.bus import Context, Plugin
from bot.games import RunningGames
from bot.model import MessageReceived
from bot.rules import PluginRules, RulesFolder, resolve_inside, validation_errors
from bot.store.games import end_game, load_game, save_game
from bot.store.points import award

log = logging.getLogger(__name__)
GAME = "quiz"
LIMIT = "question"  # the timer of the question being asked
# A sentence counts as an answer when it contains the answer and is at most this much longer
# ("是月亮吗" for 月亮); a one-character answer must be the whole message.
SLACK = 3


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ask: str = Field(min_length=1, max_length=500)
    answers: list[str] = Field(min_length=1)  # any of them is right
    kind: str = Field("常识", max_length=20)  # 灯谜, 常识, 群知识 … (/竞猜 灯谜 asks only those)
    hint: str = Field("", max_length=200)  # shown with the question: 打一字, 打一水果 …


class Bank(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    questions: list[Question] = []


class QuizRules(PluginRules):
    questions: list[Question] = []
    banks: list[RulesFolder] = ["quiz/riddles.toml", "quiz/community.toml"]  # files inside the rules folder
    questions_per_round: int = Field(3, ge=1, le=20)
    seconds_per_question: int = Field(60, ge=10, le=3600)
    points: int = Field(10, ge=0, le=1000)  # for each first right answer


class QuizState(RunningGames):
    """Which groups play now (bot.games.RunningGames), and the bank files as last read: path -> (mtime,
    size, questions)."""

    def __init__(self) -> None:
        super().__init__(GAME)
        self.files: dict[Path, tuple[int, int, list[Question]]] = {}


plugin = Plugin("quiz", QuizRules, priority=125, state=QuizState)


def normalise(text: str) -> str:
    """Folded, without spaces, punctuation and symbols: ``" 胡蘿蔔！"`` → ``"胡萝卜"``."""
    return "".join(ch for ch in fold(text) if unicodedata.category(ch)[0] not in "PSZC")


def is_right(text: str, answers: list[str]) -> bool:
    said = normalise(text)
    for answer in map(normalise, answers):
        if said == answer or (len(answer) >= 2 and answer in said and len(said) <= len(answer) + SLACK):
            return True
    return False


def read_bank(path: Path) -> list[Question]:
    """One bank file's questions; ValueError says what is wrong with it (file and key)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no bank file at {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"bank file {path}: {str(exc).splitlines()[0]}") from None
    try:
        return Bank.model_validate(data).questions
    except ValidationError as exc:
        raise ValueError("; ".join(str(e) for e in validation_errors(exc, Bank, str(path)))) from None


def _bank_file(state: QuizState, path: Path) -> tuple[list[Question], str | None]:
    """The questions of one bank file (read again only when it changed), and a problem to report: a broken
    file keeps its last good questions, as a broken rule file does."""
    cached = state.files.get(path)
    try:
        st = path.stat()
        if cached and cached[:2] == (st.st_mtime_ns, st.st_size):
            return cached[2], None
        questions = read_bank(path)
    except (OSError, ValueError) as exc:
        problem = f"no bank file at {path}" if isinstance(exc, FileNotFoundError) else str(exc)
        kept = cached[2] if cached else []
        return kept, problem + ("; its last good questions stay" if kept else "")
    state.files[path] = (st.st_mtime_ns, st.st_size, questions)
    return questions, None


@plugin.check
def banks_readable(rules: QuizRules, _rules_of, rules_dir: Path) -> list[tuple[str, str]]:
    """Every bank file named exists inside the rules folder and holds valid questions."""
    problems = []
    for name in rules.banks:
        try:
            read_bank(resolve_inside(rules_dir, name))
        except ValueError as exc:
            problems.append(("banks", str(exc)))
    return problems


def bank(ctx: Context) -> tuple[list[Question], list[str]]:
    """Every question of the rules and their bank files, and the problems met reading them."""
    questions, problems = list(ctx.rules.questions), []
    for name in ctx.rules.banks:
        try:
            found, problem = _bank_file(ctx.state, resolve_inside(ctx.rules_dir, name))
        except ValueError as exc:
            found, problem = [], str(exc)
        questions += found
        if problem:
            problems.append(problem)
    return questions, problems


def _playing(event: MessageReceived, _rules, state: QuizState, group: str) -> bool:
    text = event.text
    return bool(text) and state.may_play(group) and text[0] not in "/／" and len(text) <= 60


def _board(game: dict) -> list[dict]:
    ranked = sorted(game["scores"].items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"name": game["names"].get(user, user), "points": points} for user, points in ranked]


def _ask(ctx: Context, game: dict, at: datetime) -> list:
    """The current question, and its time limit."""
    index = game["current"]
    question = game["questions"][index]
    due = at + timedelta(seconds=ctx.rules.seconds_per_question)
    return [ctx.send("quiz/question", "quiz_question", q=question, number=index + 1, total=len(game["questions"]),
                     seconds=ctx.rules.seconds_per_question),
            ctx.timer(LIMIT, due, index=index)]


def _finish(ctx: Context, game: dict) -> list:
    ctx.state.playing[ctx.group] = False
    return [ctx.send("quiz/ended", "quiz_ended", board=_board(game), total=len(game["questions"])), ctx.cancel_timer(LIMIT)]


@plugin.command("quiz", "竞猜", "猜谜")
async def start(ctx: Context):
    """``/竞猜 [类别] [题数]``: a round of questions (of that kind, e.g. 灯谜)."""
    rules: QuizRules = ctx.rules
    ev = ctx.event
    args = list(ctx.call.args)
    count = int(args.pop()) if args and args[-1].isdigit() else rules.questions_per_round
    kind = args[0] if args else None
    questions, problems = bank(ctx)
    reports = [ctx.report(f"quiz {ctx.group}: {p}", "bank_problem") for p in problems]
    pool = [q for q in questions if kind is None or q.kind == kind]
    if not pool:
        return [ctx.reply("quiz/empty", "quiz_empty", kind=kind, kinds=sorted({q.kind for q in questions})), *reports]
    rng = random.Random(f"{ctx.group}/{ev.at.isoformat()}")  # deterministic in replay
    chosen = rng.sample(pool, min(max(1, min(count, 20)), len(pool)))

    def begin(conn):
        if ev.id and not ctx.first_to_see(conn, f"msg.{ev.id}"):
            return None, False  # another process sharing the database started it from this very message
        running = load_game(conn, ctx.group, GAME)
        if running:
            return running, False
        game = {"questions": [q.model_dump() for q in chosen], "current": 0, "scores": {}, "names": {},
                "starter": ev.user, "asked_at": ev.at.isoformat()}
        save_game(conn, ctx.group, GAME, game, ev.at)
        return game, True

    game, started = await ctx.store.run(begin)
    ctx.state.playing[ctx.group] = True
    if game is None:
        return reports
    if not started:
        return [ctx.reply("quiz/running", "quiz_running"), *reports]
    opening = ctx.send("quiz/started", "quiz_started", total=len(chosen), kind=kind, seconds=rules.seconds_per_question,
                       points=rules.points)
    return [opening, *_ask(ctx, game, ev.at), *reports]


@plugin.on(MessageReceived, when=_playing)
async def answer(ctx: Context):
    rules: QuizRules = ctx.rules
    ev = ctx.event
    if not await ctx.state.may_play_now(ctx.store, ctx.group):
        return None

    def judge(conn):
        game = load_game(conn, ctx.group, GAME)
        if game is None:
            return None, None, None
        question = game["questions"][game["current"]]
        if not is_right(ev.text, question["answers"]):
            return game, None, None
        if ev.id and not ctx.first_to_see(conn, f"msg.{ev.id}"):
            return game, None, None  # another process sharing the database judged this very message
        name = ev.user_name or ev.user
        game["scores"][ev.user] = game["scores"].get(ev.user, 0) + rules.points
        game["names"][ev.user] = name
        if rules.points:
            award(conn, ctx.group, ev.user, name, rules.points, plugin.name, "quiz_answer", ev.at)
        _move_on(conn, ctx.group, game, ev.at)
        return game, question, name

    game, solved, name = await ctx.store.run(judge)
    ctx.state.playing[ctx.group] = game is not None
    if solved is None:
        return None
    right = ctx.reply("quiz/right", "quiz_right", name=name, q=solved, points=rules.points)
    if game["current"] >= len(game["questions"]):
        return [right, *_finish(ctx, game)]
    return [right, *_ask(ctx, game, ev.at)]


def _move_on(conn, group: str, game: dict, at: datetime) -> None:
    """The next question is asked from ``at``; after the last one the game ends."""
    game["current"] += 1
    game["asked_at"] = at.isoformat()
    if game["current"] >= len(game["questions"]):
        end_game(conn, group, GAME)
    else:
        save_game(conn, group, GAME, game, at)


@plugin.timer(LIMIT)
async def time_up(ctx: Context):
    """Nobody got the question in time: the answer is shown, then the next question or the scoreboard."""
    ev = ctx.event

    def expire(conn):
        game = load_game(conn, ctx.group, GAME)
        if game is None or game["current"] != ev.payload.get("index"):
            return None, None  # answered meanwhile; the next question has its own timer
        question = game["questions"][game["current"]]
        _move_on(conn, ctx.group, game, ev.due)
        return game, question

    game, missed = await ctx.store.run(expire)
    if game is None:
        return None
    told = ctx.send("quiz/missed", "quiz_missed", q=missed)
    if game["current"] >= len(game["questions"]):
        return [told, *_finish(ctx, game)]
    return [told, *_ask(ctx, game, ev.due)]


@plugin.command("quiz_end", "结束竞猜")
async def stop(ctx: Context):
    def finish(conn):
        game = load_game(conn, ctx.group, GAME)
        if game is None or (ctx.role == "member" and game["starter"] != ctx.event.user):
            return game, False
        end_game(conn, ctx.group, GAME)
        return game, True

    game, ended = await ctx.store.run(finish)
    if game is None:
        ctx.state.playing[ctx.group] = False
        return ctx.reply("quiz/no_round", "no_round")
    if not ended:
        return ctx.reply("quiz/not_yours", "not_permitted")
    return _finish(ctx, game)
