"""Sleeping members (潜水 / 清理僵尸粉): who has been silent for ``silent_days``, from the statistics the
bot keeps (messages per member and day), check-ins and join days, with their activity layer; and an
opt-in clean-up that warns them with a mention and a deadline, spares whoever speaks or checks in
meanwhile, and then removes the rest where the platform lets the bot (elsewhere it lists them for the
owner). Owners, admins (once seen speaking as such) and the ``keep`` list are never touched.

The bot knows only members it has seen: those who spoke, checked in or joined while it was there.
Where it sees only messages addressed to it (WeCom), silence is not evidence, and every list says so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import KickMember, MemberJoined, MemberLeft, MessageReceived
from bot.rules import OWNER_ONLY, PluginRules
from bot.store.inactive import checked_in_since, drop_warnings, roster, save_warnings, spare, warned_users, warnings
from bot.store.presence import note_join, note_left, note_role

CLEANUP = "cleanup"
LAYER_DEFAULTS = {"layer_window_days": 30, "core_messages": 100, "active_messages": 20}  # insights' defaults


class InactiveRules(PluginRules):
    silent_days: int = Field(30, ge=1, le=3650)  # silent this long: a sleeping member
    list_limit: int = Field(50, ge=1, le=500)  # how many /潜水 lists
    cleanup: Annotated[bool, OWNER_ONLY] = False  # opt-in: /清理潜水 warns, then removes
    warn_hours: float = Field(72, gt=0, le=720)  # the deadline after the warning
    max_removals: int = Field(50, ge=1, le=500)  # at most this many members per clean-up
    keep: list[str] = []  # never listed for removal: "12345" or "qq:12345"


class Warned:
    """Members with a clean-up warning pending, per group, as this process knows them (read for every group
    in one query by the first message that needs it; None until then), and the owners and admins already
    noted (so that each is written once per process)."""

    def __init__(self) -> None:
        self.by_group: dict[str, set[str]] | None = None
        self.ranked: set[tuple[str, str]] = set()

    def set(self, group: str, users: set[str]) -> None:
        if self.by_group is not None:  # else read with the rest, from the database, when first needed
            self.by_group[group] = users


plugin = Plugin("inactive", InactiveRules, priority=60, state=Warned)


def _kept(rules: InactiveRules, platform: str, user: str) -> bool:
    return user in rules.keep or f"{platform}:{user}" in rules.keep


def _layer(ctx: Context, messages: int) -> str:
    insights = ctx.rules_of("insights")
    core = insights.core_messages if insights else LAYER_DEFAULTS["core_messages"]
    active = insights.active_messages if insights else LAYER_DEFAULTS["active_messages"]
    return "core" if messages >= core else "active" if messages >= active else "quiet" if messages else "dormant"


async def sleepers(ctx: Context, days: int) -> list[dict]:
    """Members silent for ``days`` or more (never spoken: joined that long ago), longest first; owners,
    admins and the keep list left out. Each with ``days`` silent, its ``layer`` and whether it ever ``spoke``."""
    await ctx.stats.flush()  # messages are counted in memory and written in batches
    insights = ctx.rules_of("insights")
    window = insights.layer_window_days if insights else LAYER_DEFAULTS["layer_window_days"]
    today = ctx.event.at.astimezone(ctx.tz).date()
    members = await ctx.store.run(roster, ctx.group, today - timedelta(days=window - 1), ctx.tz)
    found = []
    for m in members:
        if m["role"] != "member" or m["last_active"] is None or _kept(ctx.rules, ctx.event.platform, m["user_id"]):
            continue
        silent = (today - m["last_active"]).days
        if silent >= days:
            found.append({**m, "days": silent, "layer": _layer(ctx, m["messages"]), "name": m["name"] or m["user_id"]})
    return sorted(found, key=lambda m: (-m["days"], m["user_id"]))


@plugin.on(MemberJoined)
async def joined(ctx: Context):
    ev = ctx.event
    await ctx.store.run(note_join, ctx.group, ev.user, ev.user_name, ev.at)


@plugin.on(MemberLeft)
async def left(ctx: Context):
    ev = ctx.event

    def gone(conn):
        note_left(conn, ctx.group, ev.user, ev.user_name, ev.at)
        drop_warnings(conn, ctx.group, ev.user)

    await ctx.store.run(gone)
    if ctx.state.by_group is not None:
        ctx.state.by_group.get(ctx.group, set()).discard(ev.user)


def _concerns(event: MessageReceived, _rules, state: Warned, group: str) -> bool:
    """A warned member (or anyone, before the warnings are read) speaking, or an owner or admin not noted yet."""
    by_group = state.by_group
    return (by_group is None or event.user in by_group.get(group, ())
            or (event.role != "member" and (group, event.user) not in state.ranked))


@plugin.on(MessageReceived, when=_concerns)
async def spoke(ctx: Context):
    ev = ctx.event
    if ctx.state.by_group is None:
        everyone = await ctx.store.run(warned_users)
        if ctx.state.by_group is None:  # another message may have read them while this one waited
            ctx.state.by_group = everyone
    warned = ctx.state.by_group.get(ctx.group, set())
    if ctx.role != "member" and (ctx.group, ev.user) not in ctx.state.ranked:
        await ctx.store.run(note_role, ctx.group, ev.user, ev.user_name, ctx.role)
        ctx.state.ranked.add((ctx.group, ev.user))
    if ev.user not in warned:
        return None
    warned.discard(ev.user)
    if not await ctx.store.run(spare, ctx.group, ev.user, ev.at):
        return None
    return ctx.reply("inactive/spared", "spared", name=ev.user_name or ev.user)


@plugin.command("inactive", "潜水", "潜水成员", role="admin")
async def show(ctx: Context):
    """``/潜水 [天数]``: members silent that long (the rules' silent_days by default)."""
    args = ctx.call.args
    days = int(args[0]) if args and args[0].isdigit() and 0 < int(args[0]) <= 3650 else ctx.rules.silent_days
    found = await sleepers(ctx, days)
    return ctx.reply("inactive/listed", "inactive_listed", members=found[:ctx.rules.list_limit], total=len(found), days=days,
                     blind=ctx.can("addressed_only"))


@plugin.command("cleanup", "清理潜水", role="admin")
async def cleanup(ctx: Context):
    """``/清理潜水 预览`` (who would go), ``/清理潜水`` (warn them; opt-in), ``/清理潜水 取消``."""
    rules: InactiveRules = ctx.rules
    first = ctx.call.args[0].lower() if ctx.call.args else ""
    if first in ("取消", "cancel"):
        gone = await ctx.store.run(drop_warnings, ctx.group)
        ctx.state.set(ctx.group, set())
        return [ctx.reply("inactive/cancelled", "cleanup_cancelled", count=gone), ctx.cancel_timer(CLEANUP)]
    dry = first in ("预览", "dry", "preview")
    if not dry and not rules.cleanup:
        return ctx.reply("inactive/cleanup_off", "cleanup_off")
    pending = await ctx.store.run(warnings, ctx.group)
    if pending and not dry:
        return ctx.reply("inactive/pending", "cleanup_pending", deadline=pending[0]["deadline"].astimezone(ctx.tz),
                         count=sum(1 for w in pending if w["spared_at"] is None))
    found = (await sleepers(ctx, rules.silent_days))[:rules.max_removals]
    values = dict(members=found, days=rules.silent_days, can_kick=ctx.can("kick"), blind=ctx.can("addressed_only"))
    if dry or not found:
        return ctx.reply("inactive/preview", "cleanup_preview" if dry else "cleanup_nobody", dry=dry, **values)
    deadline = ctx.event.at + timedelta(hours=rules.warn_hours)
    await ctx.store.run(save_warnings, ctx.group, found, ctx.event.at, deadline)
    ctx.state.set(ctx.group, {m["user_id"] for m in found})
    return [ctx.send("inactive/warning", "cleanup_warned", mentions=[m["user_id"] for m in found],
                     deadline=deadline.astimezone(ctx.tz), **values),
            ctx.timer(CLEANUP, deadline),
            ctx.report(f"inactive {ctx.group}: {len(found)} sleeping members warned by {ctx.event.user}, deadline {deadline.isoformat()}", "cleanup_warned")]


def _due(conn, group: str, rules: InactiveRules, platform: str, tz):
    """The warned who stay silent (spared, checked in since the warning, gone, now an admin or kept: not),
    and the spared; the warnings are done with either way."""
    rows = warnings(conn, group, lock=True)
    if not rows:
        return [], []
    checked = checked_in_since(conn, group, min(r["warned_at"] for r in rows))
    current = {m["user_id"]: m for m in roster(conn, group, date.min, tz)}
    drop_warnings(conn, group)
    removed, spared = [], []
    for r in rows:
        member = current.get(r["user_id"])
        if member is None:
            continue  # left meanwhile
        quiet = r["spared_at"] is None and r["user_id"] not in checked and member["role"] == "member"
        (removed if quiet and not _kept(rules, platform, r["user_id"]) else spared).append(r)
    return removed, spared


@plugin.timer(CLEANUP)
async def deadline_passed(ctx: Context):
    ev = ctx.event
    removed, spared = await ctx.store.run(_due, ctx.group, ctx.rules, ev.platform, ctx.tz)
    ctx.state.set(ctx.group, set())
    if not removed and not spared:
        return None
    can_kick = ctx.can("kick")
    kicks = [KickMember(platform=ev.platform, group=ev.group, user=r["user_id"], plugin=plugin.name, reason="cleanup_removed")
             for r in removed] if can_kick else []
    told = ctx.send("inactive/removed", "cleanup_removed" if can_kick else "cleanup_listed", removed=removed, spared=spared,
                    can_kick=can_kick)
    report = ctx.report(f"inactive {ctx.group}: clean-up {'removes' if can_kick else 'lists for the owner'} "
                        f"{[r['user_id'] for r in removed]}, spared {[r['user_id'] for r in spared]}", "cleanup_done")
    return [*kicks, told, report]
