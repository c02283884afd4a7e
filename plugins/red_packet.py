"""Red-packet prompts (发红包的群习俗): the bot keeps the custom alive — it reminds a member, with a mention and
good humour, when they announce their own deal (bot.deal_intent tells that from a question, process talk,
a hope, a complaint, a metric or someone else's deal), on their birthday, at a milestone or on a festival,
and thanks and counts every red packet that arrives. Nothing here sends money: Qunbot only prompts and thanks.

A cooldown per member and kind of prompt (claimed atomically in the database) keeps it from nagging.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from pydantic import Field

from bot import almanac
from bot.bus import Context, Plugin
from bot.commands import COMMAND_PREFIXES, parse_command
from bot.deal_intent import announces_deal
from bot.grace import too_late
from bot.model import MemberJoined, MessageReceived
from bot.rules import ClockTime, PluginRules
from bot.scheduler import at_clock_time
from bot.store.points import award, standing
from bot.store.profiles import (add_red_packet, anniversaries_on, birthdays_on, claim_prompt, record_join,
                                set_birthday)

# The check-in plugin's words and commands: a streak milestone is celebrated right after a check-in.
CHECKIN_WORDS = ("签到", "打卡")
CHECKIN_COMMANDS = ("checkin", "签到", "打卡")
_MONTH_DAY = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})日?$")


class RedPacketRules(PluginRules):
    # Words that tell of a deal; whether a message announces the sender's own deal is bot.deal_intent's call.
    deal_keywords: list[str] = ["签单", "成交", "开单", "出单", "爆单", "成单", "回款", "签约", "续约", "签了", "签下",
                                "签的", "签合同", "拿下", "谈成", "谈下", "做成", "破零", "卖出", "下单", "打款", "签字"]
    cooldown_hours: int = Field(24, ge=0, le=24 * 365)  # per member and kind of prompt
    prompt_time: ClockTime = "09:00"  # when birthday, anniversary and festival prompts go out
    birthdays: bool = True
    anniversaries: bool = True
    streak_milestones: list[int] = [30, 100, 365]  # check-in streaks worth a red packet
    member_milestones: list[int] = [100, 200, 500, 1000]  # group sizes worth a red packet
    festivals: almanac.Festivals = ["春节", "元宵", "端午", "中秋"]
    thank_points: int = Field(10, ge=0, le=10_000)  # points for sending a red packet
    grace_minutes: int = Field(30, ge=0, le=24 * 60)  # the daily prompts, caught up after downtime, at most this late


plugin = Plugin("red_packet", RedPacketRules, priority=150)


async def _may_prompt(ctx: Context, user: str, kind: str) -> bool:
    cooldown = timedelta(hours=ctx.rules.cooldown_hours)
    return await ctx.store.run(claim_prompt, ctx.group, user, kind, ctx.event.at, cooldown)


def _mentions_deal(event, rules: RedPacketRules) -> bool:
    return event.kind == "text" and announces_deal(event.text, rules.deal_keywords)


@plugin.on(MessageReceived, when=lambda ev, _rules: ev.kind == "red_packet")
async def thank(ctx: Context):
    ev = ctx.event
    points = ctx.rules.thank_points

    def count_once(conn) -> int | None:
        # One transaction: the claim on the message id, the count and the points stand or fall together.
        # Claimed by its message id (a replay or a redelivery counts once); without an id it always counts.
        if ev.id and not ctx.first_to_see(conn, f"red_packet:{ev.id}"):
            return None
        total = add_red_packet(conn, ctx.group, ev.user, ev.user_name)
        if points:
            award(conn, ctx.group, ev.user, ev.user_name, points, plugin.name, "red_packet", ev.at)
        return total

    count = await ctx.store.run(count_once)
    if count is None:
        return None  # counted and thanked already
    return ctx.reply("red_packet/thanks", "red_packet_thanked", name=ev.user_name, count=count, points=points)


@plugin.on(MessageReceived, when=_mentions_deal)
async def congratulate_deal(ctx: Context):
    if not await _may_prompt(ctx, ctx.event.user, "deal"):
        return None
    return ctx.reply("red_packet/deal", "deal_prompt", name=ctx.event.user_name)


def _is_checkin(event, _rules) -> bool:
    text = event.text.strip()
    if text in CHECKIN_WORDS:
        return True
    call = parse_command(text) if text[:1] in COMMAND_PREFIXES else None
    return call is not None and call.name in CHECKIN_COMMANDS


@plugin.on(MessageReceived, when=_is_checkin)
async def celebrate_streak(ctx: Context):
    """Runs after the check-in plugin (lower priority): a streak that just reached a milestone."""
    ev = ctx.event
    streak = await _streak_today(ctx)
    if streak is None or streak not in ctx.rules.streak_milestones:
        return None
    if not await _may_prompt(ctx, ev.user, f"streak_{streak}"):
        return None
    return ctx.reply("red_packet/streak", "streak_prompt", name=ev.user_name, days=streak)


async def _streak_today(ctx: Context) -> int | None:
    """The member's streak if their latest check-in is today's, else None. The check-in plugin's result for
    this very event saves a transaction; without one (already checked in, plugin off) the row is read."""
    checked_in = ctx.notes.get("checkin")
    if checked_in is not None:
        return None if checked_in.late else checked_in.streak
    ev = ctx.event
    member = await ctx.store.run(standing, ctx.group, ev.user)
    if not member or member["last_checkin"] != ev.at.astimezone(ctx.tz).date():
        return None
    return member["streak"]


@plugin.on(MemberJoined)
async def welcome_milestone(ctx: Context):
    ev = ctx.event
    await ctx.store.run(record_join, ctx.group, ev.user, ev.user_name, ev.at.astimezone(ctx.tz).date())
    if ev.member_count is None or ev.member_count not in ctx.rules.member_milestones:
        return None
    if not await _may_prompt(ctx, "", f"members_{ev.member_count}"):
        return None
    return ctx.send("red_packet/members", "member_milestone_prompt", mentions=(ev.user,), name=ev.user_name, count=ev.member_count)


@plugin.command("birthday", "生日")
async def remember_birthday(ctx: Context):
    match = _MONTH_DAY.match(ctx.call.args[0]) if ctx.call.args else None
    if match is None:
        return ctx.reply("red_packet/birthday_usage", "usage")
    month, day = int(match.group(1)), int(match.group(2))
    try:
        date(2000, month, day)  # a leap year, so that 02-29 is a birthday
    except ValueError:
        return ctx.reply("red_packet/birthday_invalid", "invalid_date", month=month, day=day)
    month_day = f"{month:02d}-{day:02d}"
    ev = ctx.event
    await ctx.store.run(set_birthday, ctx.group, ev.user, ev.user_name, month_day)
    return ctx.reply("red_packet/birthday_saved", "birthday_saved", month=month, day=day)


def _daily(rules: RedPacketRules, tz) -> dict:
    return {"daily": at_clock_time(rules.prompt_time, tz)}


@plugin.schedule(_daily)
async def daily_prompts(ctx: Context):
    rules: RedPacketRules = ctx.rules
    late = too_late(ctx, "red packet prompts", rules.grace_minutes)
    if late:
        return late
    today = ctx.event.slot.astimezone(ctx.tz).date()
    actions = []
    if rules.birthdays:
        for member in await ctx.store.run(birthdays_on, ctx.group, today.strftime("%m-%d")):
            if await _may_prompt(ctx, member["user_id"], f"birthday_{today.year}"):
                actions.append(ctx.send("red_packet/birthday", "birthday_prompt", mentions=(member["user_id"],), name=member["name"]))
    if rules.anniversaries:
        for member in await ctx.store.run(anniversaries_on, ctx.group, today):
            if await _may_prompt(ctx, member["user_id"], f"anniversary_{today.year}"):
                actions.append(ctx.send("red_packet/anniversary", "anniversary_prompt", mentions=(member["user_id"],),
                                        name=member["name"], years=member["years"]))
    festival = next((f for f in almanac.describe(today).festivals if f in rules.festivals), None)
    if festival and await _may_prompt(ctx, "", f"festival_{today.isoformat()}"):
        actions.append(ctx.send("red_packet/festival", "festival_prompt", festival=festival))
    return actions
