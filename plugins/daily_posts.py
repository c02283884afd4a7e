"""Scheduled posts (早报 / 晚安 …): named posts per group at a time of day, from templates, with the day's
calendar (lunar date, solar term, holidays and 调休), yesterday's figures, a content rotation and
festival greetings.

Each slot is claimed in the database before it fires (bot.scheduler), so a restart, a second process
or a replay run again on the same database never posts it twice. A slot fired late after downtime is
posted within ``grace_minutes`` and otherwise skipped with a log line and an admin-log report.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from bot import almanac
from bot.bus import Context, Plugin
from bot.grace import too_late
from bot.rules import ClockTime, PluginRules, RulesFolder, resolve_inside
from bot.scheduler import at_clock_time
from bot.store.insights import first_seen
from bot.store.rotations import take_position

log = logging.getLogger(__name__)

_TEMPLATE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")  # a name under templates/, never a path out of it


def _template_name(value: str) -> str:
    if not _TEMPLATE.match(value):
        raise PydanticCustomError("template_name", 'must name a template under templates/ without its .j2, like '
                                                   '"daily_posts/morning" (letters, digits, _ and -, parts joined by /)')
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostRules(_Strict):
    enabled: bool = True
    time: ClockTime  # "08:00" in the group's timezone
    days: almanac.Days = "every"
    dates: list[date] = []  # extra dates on which the post also goes out
    template: Annotated[str, AfterValidator(_template_name)] = Field(max_length=200)  # under templates/, e.g. "daily_posts/morning"
    rotation: str = ""  # the name of a [rotations.<name>] list whose next item the post shows
    festival: Literal["replace", "join", "ignore"] = "replace"  # festival greeting: instead of, inside, or never


class RotationRules(_Strict):
    order: Literal["sequential", "random"] = "sequential"  # random: no repeats until the list is used up
    items: list[str] = []
    # Text files there, one item per non-empty line: a folder inside the rules folder, set in the file only.
    folder: RulesFolder = ""
    dated: dict[date, str] = {}  # an item for a given date wins over the rotation


class DailyPostsRules(PluginRules):
    posts: dict[str, PostRules] = {}
    rotations: dict[str, RotationRules] = {}
    grace_minutes: int = Field(30, ge=0, le=24 * 60)
    festivals: almanac.Festivals = ["春节", "元宵", "端午", "七夕", "中秋", "重阳", "元旦", "国庆"]
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []
    top_contributors: int = Field(3, ge=0, le=20)


class DailyPostsState:
    def __init__(self) -> None:
        self.reported_years: set[int] = set()  # years whose unpublished calendar the operators were told of


plugin = Plugin("daily_posts", DailyPostsRules, priority=200, state=DailyPostsState)


def _jobs(rules: DailyPostsRules, tz) -> dict:
    jobs = {}
    for name, post in rules.posts.items():
        if post.enabled:
            jobs[name] = at_clock_time(post.time, tz)
    return jobs


def _calendar(rules: DailyPostsRules, day: date) -> almanac.Day:
    return almanac.describe(day, frozenset(rules.extra_holidays), frozenset(rules.extra_workdays))


def is_due(ctx: Context, post: PostRules, info: almanac.Day, festival: str | None, reports: list) -> bool:
    """Whether ``post`` goes out on this day (a greeted festival always gets its post); what the operators
    should hear of is added to ``reports``."""
    if info.day in post.dates or (festival and post.festival != "ignore"):
        return True
    if info.workday is None and post.days in ("workdays", "weekends") and info.day.year not in ctx.state.reported_years:
        # The official calendar for this year is not out yet: say so once (on_days uses Monday to Friday).
        ctx.state.reported_years.add(info.day.year)
        reports.append(ctx.report(f"the {info.day.year} holiday calendar is not published in chinese-calendar yet; "
                                  "workday posts use Monday to Friday until then (extra_holidays / extra_workdays override)",
                                  "calendar_unknown"))
    return almanac.on_days(post.days, info)


def rotation_items(ctx: Context, name: str, rotation: RotationRules, reports: list) -> list[str]:
    items = list(rotation.items)
    if rotation.folder:
        try:
            folder = resolve_inside(Path(ctx.rules_dir), rotation.folder)
        except ValueError as exc:  # validated as a relative path, but a symlink may still lead out
            reports.append(ctx.report(f"daily_posts.toml: rotations.{name}.folder: {exc}; its files are not read", "bad_folder"))
            return items
        for path in sorted(folder.glob("*.txt")):
            items += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return items


async def next_item(ctx: Context, name: str, day: date, advance: bool, reports: list) -> str | None:
    rotation = ctx.rules.rotations.get(name)
    if rotation is None:
        return None
    if day in rotation.dated:
        return rotation.dated[day]
    items = rotation_items(ctx, name, rotation, reports)
    if not items:
        return None
    cycle, position = await ctx.store.run(take_position, ctx.group, name, len(items), advance)
    order = list(range(len(items)))
    if rotation.order == "random":
        # Seeded by group, list and pass: no repeats within a pass, the same order in every process.
        random.Random(f"{ctx.group}/{name}/{cycle}").shuffle(order)
    return items[order[position % len(items)]]


async def compose(ctx: Context, name: str, post: PostRules, info: almanac.Day, festival: str | None,
                  preview: bool, reports: list) -> tuple[str, str]:
    """The post's text and its reason code."""
    rules: DailyPostsRules = ctx.rules
    stats = ctx.stats
    upcoming = almanac.next_festival(info.day)
    yesterday = await stats.figures(ctx.group, info.day - timedelta(days=1), rules.top_contributors)
    # A group first seen today had no "yesterday" here: nothing was counted, which is not "0 messages".
    seen = await ctx.store.run(first_seen, ctx.group)
    yesterday["counted"] = seen is None or seen.astimezone(ctx.tz).date() < info.day
    values = dict(
        post=name, day=info, festival=festival, festival_mode=post.festival, preview=preview, yesterday=yesterday,
        today=await stats.figures(ctx.group, info.day, rules.top_contributors),
        item=await next_item(ctx, post.rotation, info.day, advance=not preview, reports=reports) if post.rotation else None,
        next_festival={"name": upcoming[0], "days": upcoming[1]} if upcoming else None,
    )
    if festival and post.festival == "replace":
        return ctx.render("daily_posts/festival", **values), "festival_greeting"
    return ctx.render(post.template, **values), "scheduled_post"


def _festival(rules: DailyPostsRules, info: almanac.Day) -> str | None:
    return next((f for f in info.festivals if f in rules.festivals), None)


@plugin.schedule(_jobs)
async def post_scheduled(ctx: Context):
    rules: DailyPostsRules = ctx.rules
    name = ctx.event.job.split(".", 1)[1]
    post = rules.posts.get(name)
    if post is None or not post.enabled:
        return None
    late = too_late(ctx, f"{name} post", rules.grace_minutes)
    if late:
        return late
    info = _calendar(rules, ctx.event.slot.astimezone(ctx.tz).date())
    festival = _festival(rules, info)
    reports: list = []
    if not is_due(ctx, post, info, festival, reports):
        return reports
    text, reason = await compose(ctx, name, post, info, festival, preview=False, reports=reports)
    return [*reports, ctx.send_text(text, reason)]


def _named_post(ctx: Context) -> tuple[str, PostRules] | None:
    name = ctx.call.args[0] if ctx.call.args else ""
    post = ctx.rules.posts.get(name)
    return (name, post) if post else None


async def _on_demand(ctx: Context, preview: bool):
    found = _named_post(ctx)
    if found is None:
        return ctx.reply("daily_posts/unknown_post", "usage", posts=sorted(ctx.rules.posts))
    name, post = found
    info = _calendar(ctx.rules, ctx.event.at.astimezone(ctx.tz).date())
    reports: list = []
    text, _ = await compose(ctx, name, post, info, _festival(ctx.rules, info), preview=preview, reports=reports)
    return [*reports, ctx.send_text(text, "preview" if preview else "posted_now")]


@plugin.command("preview", "预览", role="admin")
async def preview_post(ctx: Context):
    return await _on_demand(ctx, preview=True)


@plugin.command("post", "发布", role="admin")
async def post_now(ctx: Context):
    return await _on_demand(ctx, preview=False)
