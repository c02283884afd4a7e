"""Daily check-ins (签到 / 打卡): once per member per day in the group's timezone, streaks, points, /top.

The day is stored with each check-in rather than reset by a midnight job, so a bot that was down at
midnight still counts days right; the database key makes a second check-in on one day impossible.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.bus import Context, Plugin
from bot.rules import PluginRules
from bot.store.checkins import AlreadyCheckedIn, check_in, leaderboard


class StreakBonus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    days: int = Field(ge=1, le=3650)
    points: int = Field(ge=0, le=100_000)
    repeat: bool = True  # also on every multiple of `days` (day 14, 21 … for days = 7)


class CheckinRules(PluginRules):
    base_points: int = Field(10, ge=0, le=10_000)
    streak_bonuses: list[StreakBonus] = [StreakBonus(days=7, points=20), StreakBonus(days=30, points=100)]
    leaderboard_size: int = Field(10, ge=1, le=50)


plugin = Plugin("checkin", CheckinRules, priority=50)

# /top periods: the word after /top -> (period code, template label)
PERIODS = {"周": "week", "本周": "week", "week": "week", "月": "month", "本月": "month", "month": "month",
           "总": "all", "总榜": "all", "all": "all"}


def bonus_for(rules: CheckinRules, streak: int) -> int:
    return sum(b.points for b in rules.streak_bonuses if streak == b.days or (b.repeat and streak % b.days == 0))


@plugin.keyword("签到", "打卡")
@plugin.command("checkin", "签到", "打卡")
async def check_in_member(ctx: Context):
    ev = ctx.event
    rules: CheckinRules = ctx.rules
    day = ev.at.astimezone(ctx.tz).date()
    points_for = lambda streak: rules.base_points + bonus_for(rules, streak)  # noqa: E731
    try:
        result = await ctx.store.run(check_in, ctx.group, ev.user, ev.user_name, day, ev.at, points_for, ev.id or None)
    except AlreadyCheckedIn as already:
        if ev.id and already.message == ev.id:
            # The platform sent this very message again (it saw no answer before a restart or a take-over):
            # its answer was committed with the check-in, in the outbox, and goes out from there. A
            # "checked in already" besides would answer one 签到 twice.
            return None
        return ctx.reply("checkin/already", "already_checked_in", name=ev.user_name, result=already.earlier)
    # The red-packet plugin celebrates streak milestones right after this, from the member's state as committed.
    ctx.notes["checkin"] = result
    bonus = result.points - rules.base_points
    return ctx.reply("checkin/checked_in", "checked_in", name=ev.user_name, result=result, bonus=bonus)


@plugin.command("top", "排行", "排行榜")
async def show_top(ctx: Context):
    period = PERIODS.get(ctx.call.args[0].lower() if ctx.call.args else "周", "week")
    today = ctx.event.at.astimezone(ctx.tz).date()
    since = {"week": today - timedelta(days=today.weekday()), "month": today.replace(day=1), "all": None}[period]
    rows = await ctx.store.run(leaderboard, ctx.group, since, ctx.rules.leaderboard_size)
    return ctx.reply("checkin/top", "leaderboard", period=period, rows=rows)
