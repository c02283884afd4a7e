"""Broadcasts (群发): one announcement to every group of a group set, previewed and confirmed.

``/群发 <集合> <内容>`` in a group drafts it and answers with a preview: which groups it will reach and which
refuse it (and why); ``/群发 确认`` sends it, ``/群发 取消`` drops the draft. A few minutes later the group it
came from gets a delivery report from what really happened (bot/receipts.py): delivered, failed (and why),
refused. Recurring announcements to a set are daily_posts posts in a ``[sets."<集合>"]`` table (each group's
slot claimed once, as every scheduled post).

Who may: the owner of the group it is sent from, which must be in the set (a bot admin of config.toml may
send from anywhere). Into which groups: those whose own rules accept broadcasts from that set
(``accept_from``, the owner's call) — a group whose owner has not allowed it is refused with that reason.

What must stay true: a confirmation reaches each target once, however many processes see it (the draft is
settled in the database first), and the report says only what the outbox confirmed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

from bot.bus import Context, Plugin
from bot.guards import OWNER_ONLY
from bot.model import SendMessage
from bot.receipts import receipts_of
from bot.rules import PluginRules
from bot.store.broadcasts import draft, get_broadcast, latest_draft, settle_draft

REPORT = "report"


class BroadcastsRules(PluginRules):
    # The group sets whose broadcasts (and relays) this group accepts; none by default: the owner allows.
    accept_from: Annotated[list[str], OWNER_ONLY] = []
    confirm_minutes: int = Field(30, ge=1, le=1440)  # a draft not confirmed within this is dropped
    report_after_minutes: int = Field(2, ge=1, le=60)  # the delivery report, once every message is settled …
    report_within_minutes: int = Field(60, ge=5, le=1440)  # … or at the latest this long after sending
    max_length: int = Field(2000, ge=10, le=4000)


plugin = Plugin("broadcasts", BroadcastsRules, priority=150)


def refusal(ctx: Context, target: str, set_name: str) -> str | None:
    """Why ``target`` does not take a broadcast (or relay) from set ``set_name``, in Chinese; None: it does."""
    rules = ctx.services.rules_for(plugin, target)
    if rules is None:
        return "该群没有开启群发接收（broadcasts 未启用）"
    if set_name not in rules.accept_from:
        return f"该群群主未允许来自「{set_name}」的群发（accept_from）"
    return None


def split_targets(ctx: Context, set_name: str, not_in_set: str) -> tuple[list[str], dict[str, str]] | SendMessage:
    """For a broadcast or relay from this group into ``set_name``: the set's other groups that take it, and
    those that refuse it with why; or the answer that refuses it all (an unknown set; ``not_in_set``, the
    template saying the sender may not start one into it)."""
    try:
        members = ctx.services.group_sets().members(set_name)
    except LookupError:
        return ctx.reply("broadcasts/unknown_set", "unknown_set", name=set_name, known=list(ctx.services.group_sets().sets))
    if not may_start(ctx, members):
        return ctx.reply(not_in_set, "not_permitted", name=set_name)
    refused = {g: why for g in members if g != ctx.group and (why := refusal(ctx, g, set_name))}
    return [g for g in members if g != ctx.group and g not in refused], refused


def may_start(ctx: Context, members: tuple[str, ...]) -> bool:
    """Owners of the group it is started from, when that group is in the set; bot admins from anywhere."""
    ev = ctx.event
    return f"{ev.platform}:{ev.user}" in ctx.services.bot_admins or ctx.group in members


@plugin.command("broadcast", "群发", role="owner")
async def broadcast(ctx: Context):
    args = ctx.call.args
    if not args:
        return ctx.reply("broadcasts/usage", "usage")
    if args[0] in ("确认", "confirm"):
        return await confirm(ctx)
    if args[0] in ("取消", "cancel"):
        return await cancel(ctx)
    rules: BroadcastsRules = ctx.rules
    set_name, text = args[0], ctx.call.rest[len(args[0]):].strip()
    if not text:
        return ctx.reply("broadcasts/usage", "usage")
    if len(text) > rules.max_length:
        return ctx.reply("broadcasts/too_long", "too_long", length=len(text), limit=rules.max_length)
    found = split_targets(ctx, set_name, "broadcasts/not_in_set")
    if isinstance(found, SendMessage):
        return found
    targets, refused = found
    ev = ctx.event

    def write(conn):
        if not ctx.first_to_see(conn, ev.id or f"{ev.user}.{ev.at.isoformat()}"):
            return None  # another process sharing the database drafted it from this very message
        return draft(conn, ctx.group, set_name, text, ev.user, ev.at, targets, refused)

    drafted = await ctx.store.run(write)
    if drafted is None:
        return None
    return ctx.reply("broadcasts/preview", "drafted", name=set_name, text=text, targets=targets, refused=refused,
                     minutes=rules.confirm_minutes, in_set=ctx.group in ctx.services.group_sets().members(set_name))


async def confirm(ctx: Context):
    rules: BroadcastsRules = ctx.rules
    ev = ctx.event

    def take(conn):
        found = latest_draft(conn, ctx.group, ev.user, ev.at - timedelta(minutes=rules.confirm_minutes))
        return found if found is not None and settle_draft(conn, found["id"], "sent") else None

    found = await ctx.store.run(take)
    if found is None:
        return ctx.reply("broadcasts/no_draft", "no_draft", minutes=rules.confirm_minutes)
    receipt = f"broadcast:{found['id']}"
    text = ctx.render("broadcasts/message", text=found["text"])
    sends = [SendMessage(platform=g.partition(":")[0], group=g.partition(":")[2], text=text, plugin=plugin.name,
                         reason="broadcast", receipt=receipt) for g in found["targets"]]
    return [*sends,
            ctx.reply("broadcasts/sending", "sending", count=len(sends), refused=len(found["refused"]),
                      minutes=rules.report_after_minutes),
            ctx.report(f"broadcasts {ctx.group}: #{found['id']} to {found['set_name']} by {ev.user}: "
                       f"{len(sends)} group(s), {len(found['refused'])} refused", "sending"),
            ctx.timer(REPORT, ev.at + timedelta(minutes=rules.report_after_minutes), key=str(found["id"]))]


async def cancel(ctx: Context):
    rules: BroadcastsRules = ctx.rules
    ev = ctx.event

    def drop(conn):
        found = latest_draft(conn, ctx.group, ev.user, ev.at - timedelta(minutes=rules.confirm_minutes))
        return found is not None and settle_draft(conn, found["id"], "cancelled")

    return ctx.reply("broadcasts/cancelled" if await ctx.store.run(drop) else "broadcasts/no_draft", "cancelled",
                     minutes=rules.confirm_minutes)


@plugin.timer(REPORT)
async def report(ctx: Context):
    rules: BroadcastsRules = ctx.rules
    ev = ctx.event
    await ctx.services.receipts.flush()

    def read(conn):
        found = get_broadcast(conn, int(ev.key))
        return found, receipts_of(conn, f"broadcast:{ev.key}") if found else {}

    found, outcomes = await ctx.store.run(read)
    if found is None:
        return None
    pending = [g for g in found["targets"] if g not in outcomes]
    if pending and ev.at < found["created_at"] + timedelta(minutes=rules.report_within_minutes):
        return ctx.timer(REPORT, ev.at + timedelta(minutes=rules.report_after_minutes), key=ev.key)
    delivered = [g for g in found["targets"] if outcomes.get(g, (False,))[0]]
    failed = {g: outcomes[g][1] for g in found["targets"] if g in outcomes and not outcomes[g][0]}
    return [ctx.send("broadcasts/report", "delivery_report", id=found["id"], name=found["set_name"],
                     total=len(found["targets"]), delivered=delivered, failed=failed, pending=pending,
                     refused=found["refused"]),
            ctx.report(f"broadcasts {ctx.group}: #{found['id']} delivered {len(delivered)}/{len(found['targets'])}, "
                       f"failed {len(failed)}, unconfirmed {len(pending)}, refused {len(found['refused'])}", "delivery_report")]
