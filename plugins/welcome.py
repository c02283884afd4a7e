"""Welcome: one templated welcome per burst of newcomers, and /群规 with the group's rules text.

Newcomers are collected in a stored batch; the welcome goes out ``quiet_seconds`` after the last join
(but no later than ``max_wait_seconds`` after the first), so twenty people joining within a minute get
one combined welcome instead of twenty. Members still being verified by join_threshold are welcomed
when they pass (join_threshold calls ``enqueue``), not when they arrive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import MemberJoined, MemberLeft, ScheduleFired
from bot.rules import PluginRules
from bot.store.admission import Case, close_case, get_case, open_cases, save_case

SEND_JOB = "welcome.send"
BATCH = "welcome"  # the case kind of a group's pending welcome (user "")
VERIFYING = ("quiz", "review")  # join_threshold's kinds: those newcomers are welcomed when they pass


class WelcomeRules(PluginRules):
    quiet_seconds: int = Field(30, ge=0, le=3600)
    max_wait_seconds: int = Field(120, ge=0, le=86_400)
    max_names: int = Field(20, ge=1, le=200)  # a welcome mentions at most this many newcomers
    show_rules: bool = True  # the welcome includes the rules text
    rules_text: str = Field("", max_length=4000)  # what /群规 shows


plugin = Plugin("welcome", WelcomeRules, priority=20)


def _add(conn, group: str, joiners: list[dict], member_count: int | None, at: datetime, rules: WelcomeRules) -> datetime:
    case = get_case(conn, group, "", BATCH) or Case(group, "", BATCH, "", at, data={"joiners": []})
    known = {j["user"] for j in case.data["joiners"]}
    case.data["joiners"] += [j for j in joiners if j["user"] not in known]
    if member_count is not None:
        case.data["member_count"] = member_count
    cap = case.started_at + timedelta(seconds=rules.max_wait_seconds)
    case.deadline = min(at + timedelta(seconds=rules.quiet_seconds), cap)
    save_case(conn, case)
    return case.deadline


async def enqueue(engine, group: str, joiners: list[dict], at: datetime, member_count: int | None = None) -> None:
    """Add ``joiners`` (``{"user", "name"}``) to the group's next welcome, if welcome is enabled there."""
    rules = engine.rules_for(plugin, group) if plugin.name in engine.plugins else None
    if rules is None or not joiners:
        return
    due = await engine.store.run(_add, group, joiners, member_count, at, rules)
    engine.scheduler.set_timer(group, SEND_JOB, due.astimezone(engine.tz_for(group)))


@plugin.on(MemberJoined)
async def collect(ctx: Context):
    ev = ctx.event

    def handled_elsewhere(conn):
        # Claimed first, in the same transaction: a second process receiving the same join waits for
        # this one and then leaves it alone; a newcomer being verified is welcomed on passing.
        if not ctx.first_to_see(conn, f"joined:{ev.user}"):
            return True
        return any(get_case(conn, ctx.group, ev.user, kind) for kind in VERIFYING)

    if await ctx.store.run(handled_elsewhere):
        return None
    await enqueue(ctx.engine, ctx.group, [{"user": ev.user, "name": ev.user_name or ev.user}], ev.at, ev.member_count)
    return None


@plugin.on(MemberLeft)
async def drop_leaver(ctx: Context):
    """Someone who left before the welcome went out is not welcomed."""
    def drop(conn):
        case = get_case(conn, ctx.group, "", BATCH)
        if case and any(j["user"] == ctx.event.user for j in case.data["joiners"]):
            case.data["joiners"] = [j for j in case.data["joiners"] if j["user"] != ctx.event.user]
            save_case(conn, case)

    await ctx.store.run(drop)


def next_steps(engine, group: str) -> dict:
    """What the admission plugins ask of a newcomer here, for the welcome text."""
    steps: dict = {}
    for name in ("self_intro", "nickname"):
        other = engine.plugins.get(name)
        rules = engine.rules_for(other, group) if other else None
        if rules is not None:
            steps[name] = rules.hint()
    return steps


@plugin.on(ScheduleFired, when=lambda ev, _r: ev.job == SEND_JOB)
async def greet(ctx: Context):
    rules: WelcomeRules = ctx.rules

    def take(conn):
        case = get_case(conn, ctx.group, "", BATCH)
        if case is None or (case.deadline and case.deadline > ctx.event.slot):
            return None  # sent already, or a later join moved it (its own timer is armed)
        close_case(conn, ctx.group, "", BATCH)
        return case

    case = await ctx.store.run(take)
    if case is None or not case.data["joiners"]:
        return None
    joiners = case.data["joiners"]
    shown = joiners[: rules.max_names]
    return ctx.send("welcome/welcome", "welcome", mentions=[j["user"] for j in shown], joiners=shown,
                    more=len(joiners) - len(shown), count=len(joiners), member_count=case.data.get("member_count"),
                    rules_text=rules.rules_text if rules.show_rules else "", steps=next_steps(ctx.engine, ctx.group))


@plugin.command("grouprules", "群规")
async def show_rules(ctx: Context):
    return ctx.reply("welcome/rules", "group_rules", rules_text=ctx.rules.rules_text)


@plugin.on_start
async def rearm(engine) -> None:
    """After a restart, a batch that was waiting still goes out at its time."""
    for case in await engine.store.run(open_cases, (BATCH,)):
        if engine.serves(case.group) and case.deadline:
            engine.scheduler.set_timer(case.group, SEND_JOB, case.deadline.astimezone(engine.tz_for(case.group)))
