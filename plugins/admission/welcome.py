"""Welcome: one templated welcome per burst of newcomers, and /群规 with the group's rules text.

Newcomers are collected in a stored batch; the welcome goes out ``quiet_seconds`` after the last join
(but no later than ``max_wait_seconds`` after the first), so twenty people joining within a minute get
one combined welcome instead of twenty. The batch has one stored timer per group, moved by each join.
Members still being verified by join_threshold are welcomed when they pass (``cases.let_in`` adds them),
not when they arrive.
"""

from __future__ import annotations

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import MemberJoined, MemberLeft
from bot.rules import PluginRules
from bot.store.admission import close_case, get_case, save_case
from plugins.admission.cases import NICKNAME, SELF_INTRO, VERIFYING, WELCOME_DUE, CaseKind, add_to_welcome, welcome_timer

BATCH = CaseKind.WELCOME  # the case of a group's pending welcome (user "")


class WelcomeRules(PluginRules):
    quiet_seconds: int = Field(30, ge=0, le=3600)
    max_wait_seconds: int = Field(120, ge=0, le=86_400)
    max_names: int = Field(20, ge=1, le=200)  # a welcome mentions at most this many newcomers
    show_rules: bool = True  # the welcome includes the rules text
    rules_text: str = Field("", max_length=4000)  # what /群规 shows


plugin = Plugin("welcome", WelcomeRules, priority=20)


@plugin.on(MemberJoined)
async def collect(ctx: Context):
    ev = ctx.event

    def add(conn):
        # Claimed first, in the same transaction: a second process receiving the same join waits for
        # this one and then leaves it alone; a newcomer being verified is welcomed on passing.
        if not ctx.first_to_see(conn, f"joined:{ev.user}", ev.at):
            return None
        if any(get_case(conn, ctx.group, ev.user, kind) for kind in VERIFYING):
            return None
        return add_to_welcome(conn, ctx.rules, ctx.group, [{"user": ev.user, "name": ev.user_name or ev.user}],
                              ev.member_count, ev.at)

    due = await ctx.store.run(add)
    return welcome_timer(ctx, due) if due else None


@plugin.on(MemberLeft)
async def drop_leaver(ctx: Context):
    """Someone who left before the welcome went out is not welcomed."""
    def drop(conn):
        case = get_case(conn, ctx.group, "", BATCH)
        if case and any(j["user"] == ctx.event.user for j in case.data["joiners"]):
            case.data["joiners"] = [j for j in case.data["joiners"] if j["user"] != ctx.event.user]
            save_case(conn, case)

    await ctx.store.run(drop)


def next_steps(ctx: Context) -> dict:
    """What the other admission plugins ask of a newcomer here, for the welcome text."""
    steps: dict = {}
    for name in (SELF_INTRO, NICKNAME):
        rules = ctx.rules_of(name)
        if rules is not None:
            steps[name] = rules.hint()
    return steps


@plugin.timer(WELCOME_DUE)
async def greet(ctx: Context):
    rules: WelcomeRules = ctx.rules

    def take(conn):
        case = get_case(conn, ctx.group, "", BATCH)
        if case is None or (case.deadline and case.deadline > ctx.event.due):
            return None  # sent already, or a later join moved it (and its timer)
        close_case(conn, ctx.group, "", BATCH)
        return case

    case = await ctx.store.run(take)
    if case is None or not case.data["joiners"]:
        return None
    joiners = case.data["joiners"]
    shown = joiners[: rules.max_names]
    return ctx.send("welcome/welcome", "welcome", mentions=[j["user"] for j in shown], joiners=shown,
                    more=len(joiners) - len(shown), count=len(joiners), member_count=case.data.get("member_count"),
                    rules_text=rules.rules_text if rules.show_rules else "", steps=next_steps(ctx))


@plugin.command("grouprules", "群规")
async def show_rules(ctx: Context):
    return ctx.reply("welcome/rules", "group_rules", rules_text=ctx.rules.rules_text)
