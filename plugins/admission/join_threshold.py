"""Joining threshold (入群门槛): open, an answer, an invite code, or an admin's review.

Join requests (Telegram, QQ) are decided on the applicant's answer: approved, declined with a reason, or
held for an admin (/通过, /拒绝). A newcomer who did not come through a request we approved (invited,
or on WeChat, which has no join requests) gets a quiz after joining: a deadline and a number of
attempts, ending in removal (the outbox's fallback, asking the owner, where the bot cannot remove). What the
group is told follows what the bot can do in that group (``ctx.can``): a removal or a mute is announced after
it and only once it is done (``cases.announced``), and the quiz promises only what will happen. Every open case is a
row, and every quiz deadline a stored timer of its own, so a restart neither forgets a deadline nor lets
anyone through; failures are counted per user, and after ``block_after`` of them the user is turned away
at once. A newcomer let in gets the welcome and the introduction window (``cases.let_in``).
"""

from __future__ import annotations

import unicodedata
import zlib
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from bot import safe_regex
from bot.bus import Context, Plugin, Stop
from bot.model import DecideJoin, DeleteMessage, JoinRequested, KickMember, MemberJoined, MemberLeft, MessageReceived, MuteMember
from bot.rules import OWNER_ONLY, Patterns, PluginRules
from bot.store.admission import Case, add_strike, close_case, forget_member, get_case, group_cases, save_case, strikes
from plugins.admission.cases import (QUIZ_DEADLINE, SELF_INTRO, VERIFYING, WELCOME, CaseKind, Waiting, admitted_effects,
                                     announced, let_in, removal, restriction, show_pending)

QUIZ, REVIEW, REQUEST, PASSED = CaseKind.QUIZ, CaseKind.REVIEW, CaseKind.REQUEST, CaseKind.PASSED
PASSED_FOR = timedelta(days=1)  # how long an approved request waits for its join event


def normalise(text: str) -> str:
    """Case- and width-insensitive form: NFKC folds full-width letters and digits, casefold the case."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ask: str = Field(min_length=1, max_length=500)
    keywords: list[str] = []  # accepted when the answer contains one of these
    patterns: Patterns = []  # or when one of these regular expressions is found in it

    @model_validator(mode="after")
    def _answerable(self):
        if not any(k.strip() for k in self.keywords) and not self.patterns:
            raise PydanticCustomError("question_unanswerable", "a question needs keywords or patterns, or nobody can answer it")
        return self

    @cached_property
    def needles(self) -> tuple[str, ...]:
        """The keywords in normalised form."""
        return tuple(normalise(k) for k in self.keywords if k.strip())

    def accepts(self, answer: str) -> bool:
        text = normalise(answer)
        return any(k in text for k in self.needles) or any(
            safe_regex.search(unicodedata.normalize("NFKC", p), text, ignore_case=True) for p in self.patterns)


class JoinThresholdRules(PluginRules):
    mode: Annotated[Literal["open", "answer", "invite_code", "review"], OWNER_ONLY] = "answer"  # who gets in: the owner's call
    questions: Annotated[list[Question], OWNER_ONLY] = [Question(ask="你是从哪里知道本群的？", keywords=["公众号", "朋友", "介绍"])]
    invite_codes: Annotated[list[str], OWNER_ONLY] = []
    wrong_answer: Literal["decline", "review"] = "decline"  # a wrong answer to a join request
    quiz_after_join: Annotated[bool, OWNER_ONLY] = True  # newcomers who did not come through a request we approved
    quiz_minutes: int = Field(10, ge=1, le=10_080)
    quiz_attempts: Annotated[int, OWNER_ONLY] = Field(3, ge=1, le=20)
    while_pending: Annotated[Literal["answer_only", "free"], OWNER_ONLY] = "answer_only"
    review_mute_minutes: Annotated[int, OWNER_ONLY] = Field(1440, ge=0, le=43_200)  # a joined member awaiting review is muted
    block_after: Annotated[int, OWNER_ONLY] = Field(3, ge=0, le=100)  # failures before a user is turned away at once; 0: never

    @model_validator(mode="after")
    def _usable(self):
        if self.mode == "answer" and not self.questions:
            raise PydanticCustomError("answer_needs_question", 'mode "answer" needs at least one question')
        if self.mode == "invite_code" and not any(c.strip() for c in self.invite_codes):
            raise PydanticCustomError("invite_needs_codes", 'mode "invite_code" needs invite_codes')
        return self

    @cached_property
    def invite_question(self) -> Question | None:
        """In ``invite_code`` mode, the one question: the code."""
        return Question(ask="请发送你的邀请码", keywords=self.invite_codes) if self.mode == "invite_code" else None


class Newcomers(Waiting):
    """The newcomers being verified (a quiz or a review) per group: their messages are this plugin's first."""

    def __init__(self) -> None:
        super().__init__(VERIFYING)


plugin = Plugin("join_threshold", JoinThresholdRules, priority=10, state=Newcomers)


def _question(rules: JoinThresholdRules, user: str) -> Question:
    """The quiz question for ``user``: from the bank, the same one every time (stable across restarts)."""
    return rules.invite_question or rules.questions[zlib.crc32(user.encode()) % len(rules.questions)]


def _right(rules: JoinThresholdRules, answer: str) -> bool:
    if rules.invite_question:
        return rules.invite_question.accepts(answer)
    return any(q.accepts(answer) for q in rules.questions)


def _blocked(rules: JoinThresholdRules, failures: int) -> bool:
    return rules.block_after > 0 and failures >= rules.block_after


# ----------------------------------------------------------------------------- join requests


@plugin.on(JoinRequested)
async def decide(ctx: Context):
    rules: JoinThresholdRules = ctx.rules
    ev = ctx.event
    if not await ctx.store.run(ctx.first_to_see, f"request:{ev.id}"):
        return None  # another process sharing the database decides this request
    # A declined applicant is nobody else's business: the chain ends with the decision.
    decline = lambda reason, **v: [DecideJoin(platform=ev.platform, group=ev.group, request=ev.id, user=ev.user, approve=False,  # noqa: E731
                                              note=ctx.render(f"join_threshold/note_{reason}", **v), reason=reason), Stop(reason)]
    if _blocked(rules, await ctx.store.run(strikes, ctx.group, ev.user)):
        return decline("blocked")
    if rules.mode == "review" or (rules.mode != "open" and not _right(rules, ev.answer) and rules.wrong_answer == "review"):
        held = Case(ctx.group, ev.user, REQUEST, ev.user_name or ev.user, ev.at, request_id=ev.id, data={"answer": ev.answer})
        await ctx.store.run(save_case, held)
        return ctx.send("join_threshold/held", "held_for_review", name=held.name, user=ev.user, answer=ev.answer)
    if rules.mode != "open" and not _right(rules, ev.answer):
        failures = await ctx.store.run(add_strike, ctx.group, ev.user, ev.at)
        return decline("wrong_answer", left=max(rules.block_after - failures, 0) if rules.block_after else None)
    await ctx.store.run(save_case, Case(ctx.group, ev.user, PASSED, ev.user_name, ev.at, ev.at + PASSED_FOR, request_id=ev.id))
    return DecideJoin(platform=ev.platform, group=ev.group, request=ev.id, user=ev.user, approve=True,
                      reason="open" if rules.mode == "open" else "right_answer")


# ----------------------------------------------------------------------------- newcomers


@plugin.on(MemberJoined)
async def screen(ctx: Context):
    rules: JoinThresholdRules = ctx.rules
    ev = ctx.event
    name = ev.user_name or ev.user
    deadline = ev.at + timedelta(minutes=rules.quiz_minutes)

    def admit(conn):
        if not ctx.first_to_see(conn, f"joined:{ev.user}", ev.at):  # in this transaction: the case comes with it
            return "elsewhere"
        passed = get_case(conn, ctx.group, ev.user, PASSED)
        close_case(conn, ctx.group, ev.user, PASSED)
        if passed and passed.deadline and passed.deadline >= ev.at:
            return "passed"
        if _blocked(rules, strikes(conn, ctx.group, ev.user)):
            return "blocked"
        if rules.mode == "open" or not rules.quiz_after_join:
            return "open"
        kind = REVIEW if rules.mode == "review" else QUIZ
        save_case(conn, Case(ctx.group, ev.user, kind, name, ev.at, None if kind == REVIEW else deadline))
        return kind

    outcome = await ctx.store.run(admit)
    if outcome == "elsewhere":
        return await _seen_elsewhere(ctx)
    if outcome == "blocked":
        # Removed at once: no welcome, no intro prompt, no nickname check for someone who is gone.
        return [*removal(ctx, [ev.user], "join_threshold/blocked", "blocked", name=name), Stop("blocked")]
    if outcome == QUIZ:
        await ctx.state.add(ctx, ev.user)
        return [ctx.send("join_threshold/quiz", "quiz_started", mentions=[ev.user], name=name,
                         question=_question(rules, ev.user).ask, minutes=rules.quiz_minutes, attempts=rules.quiz_attempts,
                         **_promises(ctx)),
                ctx.timer(QUIZ_DEADLINE, deadline, key=ev.user)]
    if outcome == REVIEW:
        await ctx.state.add(ctx, ev.user)
        if rules.review_mute_minutes:
            return restriction(ctx, [ev.user], rules.review_mute_minutes * 60, "join_threshold/awaiting_review",
                               "awaiting_review", name=name, **_promises(ctx))
        return ctx.send("join_threshold/awaiting_review", "awaiting_review", mentions=[ev.user], name=name, muted=False,
                        **_promises(ctx))
    return None


def _promises(ctx: Context) -> dict:
    """What a newcomer may be told will happen while they are verified, by what the bot can do here: their
    other messages withdrawn (``withdrawn``), asked to wait (``hold``), removal at the end (``removes``)."""
    hold = ctx.rules.while_pending == "answer_only"
    return {"hold": hold, "withdrawn": hold and ctx.can("delete"), "removes": ctx.can("kick")}


async def _seen_elsewhere(ctx: Context) -> None:
    """Another process sharing the database screened this join (and set the deadline's timer): only learn
    whether they are pending, so that this process, too, takes their messages as answers and holds them
    from other plugins."""
    def pending(conn):
        return any(get_case(conn, ctx.group, ctx.event.user, kind) for kind in VERIFYING)

    if await ctx.store.run(pending):
        await ctx.state.add(ctx, ctx.event.user)
    return None


@plugin.on(MemberLeft)
async def forget(ctx: Context):
    user = ctx.event.user
    if await ctx.state.holds(ctx, user):
        ctx.state.discard(ctx.group, user)
        await ctx.store.run(forget_member, ctx.group, user, VERIFYING)
        return ctx.cancel_timer(QUIZ_DEADLINE, key=user)
    return None


def _fail(ctx: Context, user: str, name: str, why: str) -> list:
    ctx.state.discard(ctx.group, user)
    return removal(ctx, [user], "join_threshold/failed", why, name=name, why=why)


def _fail_in_db(conn, group: str, user: str, at: datetime) -> None:
    # Whatever else they still owed (an introduction …) goes with them.
    forget_member(conn, group, user, (*VERIFYING, CaseKind.INTRO))
    add_strike(conn, group, user, at)


def _is_pending(ev: MessageReceived, _rules, state: Newcomers, group: str) -> bool:
    return state.may_hold(group, ev.user)


@plugin.on(MessageReceived, when=_is_pending)
async def answer(ctx: Context):
    """A pending newcomer's message: the quiz answer (or, awaiting review, nothing they may say yet)."""
    ev = ctx.event
    if not await ctx.state.holds(ctx, ev.user):
        return None  # the group was read from the database just now: not a newcomer being verified
    rules: JoinThresholdRules = ctx.rules
    hold = rules.while_pending == "answer_only"
    delete = [DeleteMessage(platform=ev.platform, group=ev.group, message=ev.id, reason="pending")] if hold and ev.id else []
    right = _question(rules, ev.user).accepts(ev.text)
    welcome, intro = ctx.rules_of(WELCOME), ctx.rules_of(SELF_INTRO)

    def attempt(conn):
        case = get_case(conn, ctx.group, ev.user, QUIZ) or get_case(conn, ctx.group, ev.user, REVIEW)
        if case is None or case.kind == REVIEW:
            return case, "waiting" if case else "gone", None
        if right:
            close_case(conn, ctx.group, ev.user, QUIZ)
            return case, "passed", let_in(conn, ctx.group, ev.user, case.name, ev.at, welcome, intro)
        case.attempts += 1
        if case.attempts >= rules.quiz_attempts:
            _fail_in_db(conn, ctx.group, ev.user, ev.at)
            return case, "failed", None
        save_case(conn, case)
        return case, "wrong", None

    case, outcome, admitted = await ctx.store.run(attempt)
    if outcome == "gone":
        ctx.state.discard(ctx.group, ev.user)
        return None
    stop = [Stop("pending")] if hold else []
    if outcome == "passed":
        ctx.state.discard(ctx.group, ev.user)
        return [ctx.reply("join_threshold/passed", "quiz_passed", name=case.name), *admitted_effects(ctx, admitted, intro),
                ctx.cancel_timer(QUIZ_DEADLINE, key=ev.user), *stop]
    if outcome == "failed":
        # Removed: the chain ends whatever while_pending says (no check-in for a member being kicked).
        return [*delete, *_fail(ctx, ev.user, case.name, "quiz_failed"), ctx.cancel_timer(QUIZ_DEADLINE, key=ev.user),
                Stop("quiz_failed")]
    if outcome == "waiting":
        return [*delete, *stop]
    left = rules.quiz_attempts - case.attempts
    return [*delete, ctx.reply("join_threshold/wrong", "wrong_answer", left=left, question=_question(rules, ev.user).ask), *stop]


@plugin.timer(QUIZ_DEADLINE)
async def expire(ctx: Context):
    """A newcomer's quiz deadline: still unanswered, they are removed (or, where the bot cannot, the fallback)."""
    ev = ctx.event

    def take(conn):
        case = get_case(conn, ctx.group, ev.key, QUIZ)
        if case is None or case.deadline is None or case.deadline > ev.due:
            return None  # answered, decided or gone meanwhile
        _fail_in_db(conn, ctx.group, case.user, ev.due)
        return case

    case = await ctx.store.run(take)
    return _fail(ctx, case.user, case.name, "quiz_timeout") if case else None


# ----------------------------------------------------------------------------- admins


def _find(cases: list[Case], who: str) -> Case | None:
    who = who.lstrip("@")
    return next((c for c in cases if c.user == who), None) or next((c for c in cases if c.name == who), None)


async def _decide_case(ctx: Context, approve: bool):
    if not ctx.call.args:
        return ctx.reply("join_threshold/decide_usage", "usage")
    who, note = ctx.call.args[0], " ".join(ctx.call.args[1:])
    found = _find(await ctx.store.run(group_cases, ctx.group, (REQUEST, QUIZ, REVIEW)), who)
    if found is None or not await ctx.store.run(close_case, ctx.group, found.user, found.kind):
        return ctx.reply("join_threshold/nobody_pending", "not_pending", who=who)
    ev = ctx.event
    ctx.state.discard(ctx.group, found.user)
    removes = not approve and found.kind != REQUEST and ctx.can("kick")
    done = ctx.reply("join_threshold/decided", "admin_approved" if approve else "admin_declined",
                     name=found.name, approve=approve, request=found.kind == REQUEST, removed=removes)
    if found.kind == REQUEST:
        if approve:
            await ctx.store.run(save_case, Case(ctx.group, found.user, PASSED, found.name, ev.at, ev.at + PASSED_FOR))
        else:
            await ctx.store.run(add_strike, ctx.group, found.user, ev.at)
        return announced([DecideJoin(platform=ev.platform, group=ev.group, request=found.request_id, user=found.user,
                                     approve=approve, note=note or ctx.render("join_threshold/note_declined"),
                                     reason=done.reason)], done)
    cancel = [ctx.cancel_timer(QUIZ_DEADLINE, key=found.user)] if found.kind == QUIZ else []
    if not approve:
        await ctx.store.run(_fail_in_db, ctx.group, found.user, ev.at)
        kick = KickMember(platform=ev.platform, group=ev.group, user=found.user, reason="admin_declined")
        return [*(announced([kick], done) if removes else [done, kick]), *cancel]
    intro = ctx.rules_of(SELF_INTRO)
    admitted = await ctx.store.run(let_in, ctx.group, found.user, found.name, ev.at, ctx.rules_of(WELCOME), intro)
    unmute = [MuteMember(platform=ev.platform, group=ev.group, user=found.user, seconds=0, reason="admin_approved")]
    return [done, *(unmute if found.kind == REVIEW else []), *admitted_effects(ctx, admitted, intro), *cancel]


@plugin.command("approve", "通过", role="admin")
async def approve(ctx: Context):
    return await _decide_case(ctx, True)


@plugin.command("decline", "拒绝", role="admin")
async def decline(ctx: Context):
    return await _decide_case(ctx, False)


# The family's one /pending (cases.show_pending): it lists introductions owed as well.
plugin.command("pending", "待审核", role="admin")(show_pending)
