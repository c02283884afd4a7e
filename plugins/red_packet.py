"""Red-packet prompts (发红包的群习俗): the bot keeps the custom alive — it reminds a member, with a mention and
good humour, when they close a deal, on their birthday, at a milestone or on a festival, and thanks and
counts every red packet that arrives. Nothing here sends money: Qunbot only prompts and thanks.

A cooldown per member and kind of prompt (claimed atomically in the database) keeps it from nagging.
"""

from __future__ import annotations

import re
from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator

from bot import almanac
from bot.bus import Context, Plugin
from bot.commands import COMMAND_PREFIXES, parse_command
from bot.model import MemberJoined, MessageReceived
from bot.rules import PluginRules
from bot.store.points import award, standing
from bot.store.profiles import add_red_packet, anniversaries_on, birthdays_on, claim_prompt, record_join, set_birthday

# The check-in plugin's words and commands: a streak milestone is celebrated right after a check-in.
CHECKIN_WORDS = ("签到", "打卡")
CHECKIN_COMMANDS = ("checkin", "签到", "打卡")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MONTH_DAY = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})日?$")


class RedPacketRules(PluginRules):
    deal_keywords: list[str] = ["签单", "成交", "开单", "出单", "爆单"]
    cooldown_hours: int = Field(24, ge=0, le=24 * 365)  # per member and kind of prompt
    prompt_time: str = "09:00"  # when birthday, anniversary and festival prompts go out
    birthdays: bool = True
    anniversaries: bool = True
    streak_milestones: list[int] = [30, 100, 365]  # check-in streaks worth a red packet
    member_milestones: list[int] = [100, 200, 500, 1000]  # group sizes worth a red packet
    festivals: list[str] = ["春节", "元宵", "端午", "中秋"]
    thank_points: int = Field(10, ge=0, le=10_000)  # points for sending a red packet

    @field_validator("prompt_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError('must be a time of day like "09:00"')
        return value

    @field_validator("festivals")
    @classmethod
    def _known_festivals(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(almanac.FESTIVALS.values()))
        if unknown:
            raise ValueError(f"unknown festival {', '.join(unknown)} (known: {', '.join(almanac.FESTIVALS.values())})")
        return value


plugin = Plugin("red_packet", RedPacketRules, priority=150)


async def _may_prompt(ctx: Context, user: str, kind: str) -> bool:
    cooldown = timedelta(hours=ctx.rules.cooldown_hours)
    return await ctx.store.run(claim_prompt, ctx.group, user, kind, ctx.event.at, cooldown)


def _mentions_deal(event, rules: RedPacketRules) -> bool:
    return event.kind == "text" and any(word in event.text for word in rules.deal_keywords)


@plugin.on(MessageReceived, when=lambda ev, _rules: ev.kind == "red_packet")
async def thank(ctx: Context):
    ev = ctx.event
    count = await ctx.store.run(add_red_packet, ctx.group, ev.user, ev.user_name)
    if ctx.rules.thank_points:
        await ctx.store.run(award, ctx.group, ev.user, ev.user_name, ctx.rules.thank_points, plugin.name, "red_packet", ev.at)
    return ctx.reply("red_packet/thanks", "red_packet_thanked", name=ev.user_name, count=count, points=ctx.rules.thank_points)


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
    member = await ctx.store.run(standing, ctx.group, ev.user)
    today = ev.at.astimezone(ctx.tz).date()
    if not member or member["last_checkin"] != today or member["streak"] not in ctx.rules.streak_milestones:
        return None
    if not await _may_prompt(ctx, ev.user, f"streak_{member['streak']}"):
        return None
    return ctx.reply("red_packet/streak", "streak_prompt", name=ev.user_name, days=member["streak"])


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
    month, day = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return ctx.reply("red_packet/birthday_usage", "usage")
    month_day = f"{month:02d}-{day:02d}"
    ev = ctx.event
    await ctx.store.run(set_birthday, ctx.group, ev.user, ev.user_name, month_day)
    return ctx.reply("red_packet/birthday_saved", "birthday_saved", month=month, day=day)


def _daily(rules: RedPacketRules, tz) -> dict:
    hour, minute = rules.prompt_time.split(":")
    return {"daily": CronTrigger(hour=int(hour), minute=int(minute), timezone=tz)}


@plugin.schedule(_daily)
async def daily_prompts(ctx: Context):
    rules: RedPacketRules = ctx.rules
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
