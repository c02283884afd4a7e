"""What the admission family shares: one vocabulary of case kinds and timers, who waits in a group, and the
steps more than one plugin of the family takes.

The steps are plain functions over a database connection, run inside the caller's transaction, and
builders of the effects a handler returns; nothing here keeps state or acts. Where a step belongs to a
plugin that is off in the group (``ctx.rules_of`` gives None), the caller skips it.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.bus import Context
from bot.model import Action, KickMember, MuteMember, SendMessage, SetCard
from bot.store.admission import Case, case_users, group_cases, get_case, last_prompt, mark_prompt, member_tags, save_case

if TYPE_CHECKING:
    from plugins.admission.nickname import NicknameRules
    from plugins.admission.self_intro import SelfIntroRules
    from plugins.admission.welcome import WelcomeRules


class CaseKind(StrEnum):
    """What a row of the admission tables is about. The values are what databases hold: never rename one."""

    REQUEST = "request"  # join_threshold: a join request held for an admin (/通过, /拒绝)
    PASSED = "passed"  # join_threshold: a request approved, waiting (a day at most) for its join
    QUIZ = "quiz"  # join_threshold: a newcomer answering the quiz, by a deadline
    REVIEW = "review"  # join_threshold: a newcomer who joined without a request, muted until an admin decides
    INTRO = "intro"  # self_intro: an introduction owed, by a deadline
    WELCOME = "welcome"  # welcome: the group's next combined welcome (user "")
    # nickname keeps no cases, only marks in prompt_cooldowns: when a member was first seen joining, and
    # when they were last reminded.
    NICKNAME_SEEN = "nickname_seen"
    NICKNAME_REMINDED = "nickname"


VERIFYING = (CaseKind.QUIZ, CaseKind.REVIEW)  # newcomers join_threshold has not let in yet
SHOWN = (CaseKind.REQUEST, CaseKind.QUIZ, CaseKind.REVIEW, CaseKind.INTRO)  # what /pending lists

JOIN_THRESHOLD, WELCOME, SELF_INTRO, NICKNAME = "join_threshold", "welcome", "self_intro", "nickname"
# Timers: (plugin, name), one per key. A quiz deadline and an introduction's next reminder or deadline
# per member (key: the user), the combined welcome per group (key "").
QUIZ_DEADLINE = "quiz_deadline"
INTRO_DUE = "intro_due"
WELCOME_DUE = "batch"

NEVER = datetime.max.replace(tzinfo=timezone.utc)  # nickname: until a rename or a restart, not looked at again
NOBODY: frozenset[str] = frozenset()


def on_behalf(plugin: str, action: Action) -> Action:
    """An effect of another plugin of the family (its timer, its message), built by this one."""
    return action if action.plugin == plugin else action.model_copy(update={"plugin": plugin})


# ----------------------------------------------------------------------------- saying only what happened


def announced(actions: list[Action], message: SendMessage) -> list[Action]:
    """``actions``, then ``message`` announcing them: the outbox sends it only once they all were done (where
    one fails, the group hears nothing and the admin log is told)."""
    return [*actions, message.model_copy(update={"after_done": True})]


def removal(ctx: Context, users: list[str], template: str, reason: str, **values) -> list[Action]:
    """Remove ``users`` and tell the group with ``template``, whose ``removed`` says what happened: True,
    after the removal, where the bot can remove members here; False where it cannot, before the outbox's
    fallback, which asks the owner to do it."""
    ev = ctx.event
    kicks = [KickMember(platform=ev.platform, group=ev.group, user=user, reason=reason) for user in users]
    if ctx.can("kick"):
        return announced(kicks, ctx.send(template, reason, mentions=users, removed=True, **values))
    return [ctx.send(template, reason, mentions=users, removed=False, **values), *kicks]


def restriction(ctx: Context, users: list[str], seconds: int, template: str, reason: str, **values) -> list[Action]:
    """Mute ``users`` for ``seconds`` and tell them with ``template``, whose ``muted`` says what happened: True,
    after the mute, where the bot can mute here; False where it cannot, and then the message itself asks them
    to keep quiet (no mute is returned, so the outbox's own warning does not say it a second time)."""
    ev = ctx.event
    if ctx.can("mute"):
        mutes = [MuteMember(platform=ev.platform, group=ev.group, user=user, seconds=seconds, reason=reason) for user in users]
        return announced(mutes, ctx.send(template, reason, mentions=users, muted=True, **values))
    return [ctx.send(template, reason, mentions=users, muted=False, **values)]


# ----------------------------------------------------------------------------- who waits


class Waiting:
    """Members per group with an open case of ``kinds``, as this process knows them. Read from the database
    by the first event that needs it, for every group in one query (so nothing is rebuilt at start, and a
    bot in many groups does not pay one query per group); kept up to date by this process from then on."""

    def __init__(self, kinds: tuple[CaseKind, ...]):
        self.kinds = kinds
        self.by_group: dict[str, Set[str]] | None = None  # None: not read yet

    def may_hold(self, group: str, user: str) -> bool:
        """For a bus filter: False only when this process knows ``user`` has no such case here."""
        by_group = self.by_group
        return by_group is None or user in by_group.get(group, NOBODY)

    async def of(self, ctx: Context) -> Set[str]:
        if self.by_group is None:
            everyone = await ctx.store.run(case_users, self.kinds)
            if self.by_group is None:  # another event may have read it while this one waited
                self.by_group = everyone
        return self.by_group.get(ctx.group, NOBODY)

    async def holds(self, ctx: Context, user: str) -> bool:
        return user in await self.of(ctx)

    async def add(self, ctx: Context, user: str) -> None:
        found = await self.of(ctx)
        if not isinstance(found, set):
            found = self.by_group[ctx.group] = set(found)
        found.add(user)

    def discard(self, group: str, user: str) -> None:
        found = self.by_group.get(group) if self.by_group is not None else None
        if isinstance(found, set):  # not read yet: read when needed, without them
            found.discard(user)


# ----------------------------------------------------------------------------- welcome


def add_to_welcome(conn, rules: "WelcomeRules", group: str, joiners: list[dict], member_count: int | None,
                   at: datetime) -> datetime:
    """Add ``joiners`` (``{"user", "name"}``) to the group's next welcome; returns when it is due: ``quiet_seconds``
    after this join, but no later than ``max_wait_seconds`` after the batch's first."""
    case = get_case(conn, group, "", CaseKind.WELCOME) or Case(group, "", CaseKind.WELCOME, "", at, data={"joiners": []})
    known = {j["user"] for j in case.data["joiners"]}
    case.data["joiners"] += [j for j in joiners if j["user"] not in known]
    if member_count is not None:
        case.data["member_count"] = member_count
    cap = case.started_at + timedelta(seconds=rules.max_wait_seconds)
    case.deadline = min(at + timedelta(seconds=rules.quiet_seconds), cap)
    save_case(conn, case)
    return case.deadline


def welcome_timer(ctx: Context, due: datetime) -> Action:
    return on_behalf(WELCOME, ctx.timer(WELCOME_DUE, due.astimezone(ctx.tz)))


# ----------------------------------------------------------------------------- introductions


def reminder_times(rules: "SelfIntroRules", deadline: datetime) -> list[datetime]:
    return [deadline - timedelta(minutes=m) for m in rules.remind_before_minutes]


def intro_wake(rules: "SelfIntroRules", case: Case) -> datetime | None:
    """When this introduction next needs its timer: its next reminder, else its deadline (None: never)."""
    if case.deadline is None:
        return None
    times = reminder_times(rules, case.deadline)[case.data.get("reminded", 0):]
    return times[0] if times else case.deadline


def open_intro(conn, rules: "SelfIntroRules", group: str, user: str, name: str, at: datetime) -> Case:
    """Start ``user``'s introduction window at ``at``."""
    deadline = at + timedelta(hours=rules.deadline_hours)
    # Reminders that would fall before the start (a short deadline) are skipped, not sent at once.
    skipped = sum(1 for t in reminder_times(rules, deadline) if t <= at)
    case = Case(group, user, CaseKind.INTRO, name, at, deadline, data={"fields": {}, "reminded": skipped})
    save_case(conn, case)
    return case


def intro_timer(ctx: Context, rules: "SelfIntroRules", case: Case) -> list[Action]:
    """The member's introduction timer at its next wake (none once nothing more is due)."""
    wake = intro_wake(rules, case)
    return [on_behalf(SELF_INTRO, ctx.timer(INTRO_DUE, wake.astimezone(ctx.tz), key=case.user))] if wake else []


def intro_opened(ctx: Context, rules: "SelfIntroRules", case: Case) -> list[Action]:
    """What an opened window brings: the prompt where the rules ask on join, and the timer."""
    prompt = [on_behalf(SELF_INTRO, ctx.send("self_intro/prompt", "intro_asked", mentions=[case.user], name=case.name,
                                             hint=rules.hint(), hours=rules.deadline_hours))] if rules.prompt_on_join else []
    return [*prompt, *intro_timer(ctx, rules, case)]


# ----------------------------------------------------------------------------- letting a newcomer in


@dataclass(slots=True)
class Admitted:
    """What letting a newcomer in started: the welcome's new due time, their introduction case."""

    welcome_due: datetime | None = None
    intro: Case | None = None


def let_in(conn, group: str, user: str, name: str, at: datetime, welcome: "WelcomeRules | None",
           intro: "SelfIntroRules | None") -> Admitted:
    """A newcomer join_threshold verified is in: the next welcome names them and their introduction window
    starts now, each where its plugin is on (``welcome``, ``intro``: their rules here, or None). Nobody is
    welcomed or chased while still quizzed or muted."""
    return Admitted(add_to_welcome(conn, welcome, group, [{"user": user, "name": name}], None, at) if welcome else None,
                    open_intro(conn, intro, group, user, name, at) if intro else None)


def admitted_effects(ctx: Context, admitted: Admitted, intro: "SelfIntroRules | None") -> list[Action]:
    effects = intro_opened(ctx, intro, admitted.intro) if admitted.intro and intro else []
    return effects + ([welcome_timer(ctx, admitted.welcome_due)] if admitted.welcome_due else [])


# ----------------------------------------------------------------------------- nicknames


def nickname_decision(conn, rules: "NicknameRules", group: str, user: str, now: datetime, joining: bool):
    """What to do about a name that does not fit the pattern: ``(what, card, look again at)`` with ``what``
    "card" (set the card the introduction fills), "remind" or None, recording a reminder when one is due."""
    seen = last_prompt(conn, group, user, CaseKind.NICKNAME_SEEN)
    if seen is None:
        if rules.newcomers_only and not joining:
            return None, None, NEVER
        seen = mark_prompt(conn, group, user, CaseKind.NICKNAME_SEEN, now, keep_first=True)
    last = last_prompt(conn, group, user, CaseKind.NICKNAME_REMINDED)
    card = rules.fill(member_tags(conn, group, user)) if rules.set_card else None
    quiet_until = last + timedelta(minutes=rules.remind_every_minutes) if last else now
    if not card:
        quiet_until = max(quiet_until, seen + timedelta(minutes=rules.grace_minutes))
    if quiet_until > now:
        return None, None, quiet_until
    mark_prompt(conn, group, user, CaseKind.NICKNAME_REMINDED, now)
    return ("card" if card else "remind"), card, now + timedelta(minutes=rules.remind_every_minutes)


def nickname_after_intro(conn, rules: "NicknameRules", group: str, user: str, name: str, role: str, now: datetime):
    """An introduction was just confirmed (its tags saved in this transaction): nickname's look at the
    member's name, now that the tags may fill it — ``(what, card)`` as in ``nickname_decision``."""
    if (rules.exempt_admins and role != "member") or rules.fits(name):
        return None, None
    return nickname_decision(conn, rules, group, user, now, joining=False)[:2]


def nickname_effect(ctx: Context, rules: "NicknameRules", what: str | None, card: str | None, user: str,
                    name: str) -> list[Action]:
    ev = ctx.event
    if what == "card":
        return [SetCard(platform=ev.platform, group=ev.group, user=user, card=card, plugin=NICKNAME, reason="card_from_intro")]
    if what == "remind":
        return [on_behalf(NICKNAME, ctx.send("nickname/remind", "nickname_reminder", mentions=[user], name=name,
                                             hint=rules.hint(), every=rules.remind_every_minutes))]
    return []


# ----------------------------------------------------------------------------- /pending

# The plugins that offer /pending; where several are on, the first of them answers, for all.
PENDING_FROM = (JOIN_THRESHOLD, SELF_INTRO)


async def show_pending(ctx: Context):
    """``/pending`` (/待审核): every open case of the group — held requests, quizzes, reviews, introductions owed."""
    if next(name for name in PENDING_FROM if name == ctx.plugin.name or ctx.rules_of(name) is not None) != ctx.plugin.name:
        return None
    cases = await ctx.store.run(group_cases, ctx.group, SHOWN)
    rows = [{"kind": c.kind, "name": c.name, "user": c.user, "since": c.started_at.astimezone(ctx.tz),
             "deadline": c.deadline.astimezone(ctx.tz) if c.deadline else None, "attempts": c.attempts} for c in cases]
    return ctx.reply("join_threshold/pending", "pending_listed", rows=rows)
