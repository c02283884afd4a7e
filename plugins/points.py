"""Points and levels (积分 / 等级 / 头衔): one ledger per member per group, fed by check-ins, games, red
packets and anything a plugin awards; titles by points thresholds; /me and /rank."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from bot.bus import Context, Plugin
from bot.rules import PluginRules
from bot.store.points import points_board, standing
from bot.store.profiles import profile


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    points: int = Field(ge=0)
    title: str = Field(min_length=1, max_length=20)


class PointsRules(PluginRules):
    levels: list[Level] = [Level(points=0, title="新人"), Level(points=50, title="活跃成员"),
                           Level(points=200, title="资深成员"), Level(points=500, title="核心成员"),
                           Level(points=1000, title="元老")]
    leaderboard_size: int = Field(10, ge=1, le=50)

    @field_validator("levels")
    @classmethod
    def _ascending_from_zero(cls, levels: list[Level]) -> list[Level]:
        if not levels or levels[0].points != 0:
            raise PydanticCustomError("levels_start", "the first level must start at 0 points")
        if any(b.points <= a.points for a, b in zip(levels, levels[1:])):
            raise PydanticCustomError("levels_order", "levels must be in ascending order of points, without repeats")
        return levels


plugin = Plugin("points", PointsRules, priority=300)


def level_of(rules: PointsRules, points: int) -> tuple[int, Level, Level | None]:
    """(level number from 1, its level, the next level or None) for a points total."""
    index = max(i for i, level in enumerate(rules.levels) if points >= level.points) if points >= 0 else 0
    following = rules.levels[index + 1] if index + 1 < len(rules.levels) else None
    return index + 1, rules.levels[index], following


@plugin.command("me", "我", "我的")
async def show_me(ctx: Context):
    ev = ctx.event
    member = await ctx.store.run(standing, ctx.group, ev.user) or {"points": 0, "streak": 0, "checkin_days": 0, "best_streak": 0}
    details = await ctx.store.run(profile, ctx.group, ev.user) or {"red_packets": 0, "birthday": None, "joined_on": None}
    number, level, following = level_of(ctx.rules, member["points"])
    return ctx.reply("points/me", "profile", name=ev.user_name or ev.user, member=member, profile=details,
                     number=number, level=level, following=following)


@plugin.command("rank", "积分榜", "积分排行")
async def show_rank(ctx: Context):
    rows = await ctx.store.run(points_board, ctx.group, ctx.rules.leaderboard_size)
    for row in rows:
        row["title"] = level_of(ctx.rules, row["points"])[1].title
    return ctx.reply("points/rank", "points_leaderboard", rows=rows)
