"""Invitations (邀请): who brought whom, from the platforms' join events (``MemberJoined.inviter``), and
credit for it once the invitee proves real — stayed ``stay_days`` and introduced themselves — so that
pulling in throwaway accounts earns nothing.

Each invitee's check is a stored timer (``qualify``) at ``stay_days`` after the join, tried again daily
until ``wait_days`` for an introduction still owed. The invite row is the invitee's for good: once
credited, leaving and re-joining (by anyone's invitation) never credits again; one who leaves before
qualifying loses the timer, and a re-join starts the stay anew.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import MemberJoined, MemberLeft
from bot.rules import PluginRules
from bot.store.invites import credit, display_names, forget_invite, get_invite, introduced, invite_board, record_invite
from bot.store.points import award
from bot.store.presence import note_join, note_left, presence, still_here

QUALIFY = "qualify"


class InvitesRules(PluginRules):
    stay_days: int = Field(7, ge=1, le=365)  # an invitee counts after staying this long …
    require_intro: bool = True  # … and introducing themselves (where self_intro is on in the group)
    wait_days: int = Field(30, ge=1, le=365)  # an introduction still owed is looked for daily until then
    points: int = Field(20, ge=0, le=10_000)  # to the inviter, per invitee who counts
    announce: bool = True  # thank the inviter in the group when an invitee counts
    leaderboard_size: int = Field(10, ge=1, le=50)


plugin = Plugin("invites", InvitesRules, priority=140)


@plugin.on(MemberJoined)
async def joined(ctx: Context):
    rules: InvitesRules = ctx.rules
    ev = ctx.event
    inviter = ev.inviter if ev.inviter and ev.inviter != ev.user else None

    def note(conn) -> bool:
        note_join(conn, ctx.group, ev.user, ev.user_name, ev.at)
        if inviter is None:
            forget_invite(conn, ctx.group, ev.user)
            return False
        return record_invite(conn, ctx.group, ev.user, ev.user_name or ev.user, inviter, ev.at)

    if not await ctx.store.run(note):
        return None  # came by themselves (their leave cancelled any check), or credited before
    return ctx.timer(QUALIFY, ev.at + timedelta(days=rules.stay_days), key=ev.user)


@plugin.on(MemberLeft)
async def left(ctx: Context):
    ev = ctx.event
    await ctx.store.run(note_left, ctx.group, ev.user, ev.user_name, ev.at)
    return ctx.cancel_timer(QUALIFY, key=ev.user)


def _judge(conn, rules: InvitesRules, group: str, invitee: str, at: datetime, need_intro: bool):
    """``("credited", invite, inviter's name, total)``, ``("wait", invite)`` or ``("no", invite)``."""
    invite = get_invite(conn, group, invitee)
    if invite is None or invite["credited_at"] is not None:
        return "no", invite, None, None
    seen = presence(conn, group, invitee)
    # Still here, and since the join this invite is about (a later join without an invitation forgot it).
    if not still_here(seen) or at < invite["joined_at"] + timedelta(days=rules.stay_days):
        return "no", invite, None, None
    if need_intro and not introduced(conn, group, invitee):
        return ("wait" if at < invite["joined_at"] + timedelta(days=rules.wait_days) else "no"), invite, None, None
    credit(conn, group, invitee, at)
    name = display_names(conn, group, {invite["inviter"]}).get(invite["inviter"], invite["inviter"])
    total = award(conn, group, invite["inviter"], name, rules.points, plugin.name, "invitee_qualified", at) if rules.points else None
    return "credited", invite, name, total


@plugin.timer(QUALIFY)
async def qualify(ctx: Context):
    rules: InvitesRules = ctx.rules
    ev = ctx.event
    need_intro = rules.require_intro and ctx.rules_of("self_intro") is not None
    await ctx.stats.flush()  # the inviter's name as they last spoke (statistics are written in batches)
    outcome, invite, name, total = await ctx.store.run(_judge, rules, ctx.group, ev.key, ev.due, need_intro)
    if outcome == "wait":
        return ctx.timer(QUALIFY, ev.due + timedelta(days=1), key=ev.key)
    if outcome == "no":
        return None
    report = ctx.report(f"invites {ctx.group}: {invite['inviter']} credited for {ev.key} (+{rules.points})", "invitee_qualified")
    if not rules.announce:
        return report
    return [ctx.send("invites/credited", "invitee_qualified", mentions=(invite["inviter"],), inviter=name,
                     invitee=invite["name"], days=rules.stay_days, intro=need_intro, points=rules.points, total=total), report]


@plugin.command("invites", "邀请榜", "邀请排行")
async def board(ctx: Context):
    rules: InvitesRules = ctx.rules
    await ctx.stats.flush()
    rows = await ctx.store.run(invite_board, ctx.group, rules.leaderboard_size)
    return ctx.reply("invites/board", "invite_board", rows=rows, days=rules.stay_days,
                     intro=rules.require_intro and ctx.rules_of("self_intro") is not None)
