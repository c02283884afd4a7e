"""The operator's view: a group's lifecycle stage with its reasoning, a dead-group (死群) alert, member layers,
an activity chart and a weekly report.

Counting happens on the hot path in bot.stats (memory, flushed in batches); this plugin only reads the
series, once a day, once a week, or when an admin asks. Activity, not head-count, is what it looks at.
"""

from __future__ import annotations

import asyncio
import csv
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydantic import Field

from bot.bus import Context, Plugin
from bot.charts import activity_chart
from bot.rules import ClockTime, PluginRules, Weekday
from bot.scheduler import at_clock_time
from bot.store.admission import group_cases
from bot.store.insights import daily_series, distinct_speakers, first_seen, member_activity, member_roster, top_speakers
from bot.store.profiles import claim_prompt



class InsightsRules(PluginRules):
    introduction_days: int = Field(14, ge=0, le=365)  # a younger group is still being introduced
    growth_ratio: float = Field(0.2, ge=0, le=10)  # active members up this much week over week: growth
    decline_ratio: float = Field(0.4, gt=0, lt=1)  # active members down this much over two weeks: decline
    silent_days: int = Field(3, ge=1, le=90)  # this many days without a message: decline
    alert_cooldown_days: int = Field(30, ge=1, le=365)  # one dead-group alert, then quiet for this long
    evaluate_time: ClockTime = "21:00"
    weekly_report: bool = True
    weekly_day: Weekday = "mon"
    weekly_time: ClockTime = "09:00"
    chart_days: int = Field(30, ge=7, le=180)
    layer_window_days: int = Field(30, ge=7, le=365)
    core_messages: int = Field(100, ge=1)  # messages in the window: core members
    active_messages: int = Field(20, ge=1)  # active members; at least one message: quiet; none: dormant

plugin = Plugin("insights", InsightsRules, priority=400)


@dataclass
class Assessment:
    stage: str  # introduction | growth | maturity | decline
    reasons: list[str] = field(default_factory=list)  # template keys with their figures, shown to operators
    figures: dict = field(default_factory=dict)


def _jobs(rules: InsightsRules, tz) -> dict:
    jobs = {"evaluate": at_clock_time(rules.evaluate_time, tz)}
    if rules.weekly_report:
        jobs["weekly"] = at_clock_time(rules.weekly_time, tz, day_of_week=rules.weekly_day)
    return jobs


# A weekly report needs a week to report on: none until the bot has been in the group this long.
FIRST_REPORT_AFTER_DAYS = 7


async def born_on(services, group: str) -> date | None:
    """The day (in the group's timezone) the bot first saw the group; None for a group it does not know."""
    at = await services.store.run(first_seen, group)
    return at.astimezone(services.tz_for(group)).date() if at else None


async def assess(services, group: str, rules: InsightsRules, today: date) -> Assessment:
    """The group's stage from the last three weeks ending ``today``, with the figures that decided it."""
    await services.stats.flush()
    store = services.store
    week = [await store.run(distinct_speakers, group, today - timedelta(days=7 * k + 6), today - timedelta(days=7 * k))
            for k in range(3)]
    series = await store.run(daily_series, group, today - timedelta(days=20), today)
    born = await born_on(services, group) or today
    silent = next((i for i, row in enumerate(reversed(series)) if row["messages"]), len(series))
    net = sum(row["joins"] - row["leaves"] for row in series[-14:])
    figures = {"active": week, "messages": [sum(r["messages"] for r in series[-7 * (k + 1):len(series) - 7 * k]) for k in range(3)],
               "age": (today - born).days, "silent": silent, "net_joins": net}
    # Weeks before the bot joined were not counted (their zeros are not quiet weeks): the template shows these.
    figures["weeks"] = min(3, figures["age"] // 7 + 1)
    if figures["age"] < rules.introduction_days:
        return Assessment("introduction", ["young"], figures)
    declining = [reason for reason, holds in (
        ("active_down", bool(week[2]) and week[0] <= week[2] * (1 - rules.decline_ratio)),
        ("silent", silent >= rules.silent_days),
    ) if holds]
    if declining:
        return Assessment("decline", declining, figures)
    if week[0] and (not week[1] or week[0] >= week[1] * (1 + rules.growth_ratio)) and net >= 0:
        return Assessment("growth", ["active_up"], figures)
    return Assessment("maturity", ["stable"], figures)


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.tz).date()


async def chart(services, group: str, days: int, today: date, path: Path | None = None) -> tuple[str, list[dict]]:
    """Draw the group's last ``days`` days into ``path`` (default: a temporary file); return it and the series
    (the days since the bot joined the group: before that, nothing was counted, which is not zero)."""
    await services.stats.flush()
    series = await services.store.run(daily_series, group, today - timedelta(days=days - 1), today)
    born = await born_on(services, group)
    if path is None:
        safe = re.sub(r"[^\w.-]", "_", group)
        path = Path(tempfile.gettempdir()) / "qunbot-charts" / f"{safe}-{today.isoformat()}.png"
    title = services.templates.render("insights/chart_title", days=days, today=today)
    # Drawing takes a fifth of a second: off the loop's thread, so the bot keeps answering meanwhile.
    image = await asyncio.to_thread(activity_chart, series, title, path, born)
    return str(image), [row for row in series if born is None or row["day"] >= born]


@plugin.schedule(_jobs)
async def scheduled(ctx: Context):
    job = ctx.event.job.split(".", 1)[1]
    today = ctx.event.slot.astimezone(ctx.tz).date()
    verdict = await assess(ctx.services, ctx.group, ctx.rules, today)
    if job == "weekly":
        if verdict.figures["age"] < FIRST_REPORT_AFTER_DAYS:
            return None  # a "week" of two days would read as a quiet week
        image, series = await chart(ctx.services, ctx.group, ctx.rules.chart_days, today)
        layers = await _layers(ctx, today)
        top = await ctx.store.run(top_speakers, ctx.group, today - timedelta(days=6), today, 5)
        # Newcomers who still owe self_intro an introduction (its open cases; none when self_intro is off).
        owing = await ctx.store.run(group_cases, ctx.group, ("intro",))
        return _with_image(ctx.send("insights/weekly", "weekly_report", a=verdict, week=series[-7:], layers=layers,
                                    top=top, owing=owing), image)
    if verdict.stage != "decline":
        return None
    cooldown = timedelta(days=ctx.rules.alert_cooldown_days)
    if not await ctx.store.run(claim_prompt, ctx.group, "", "dead_group_alert", ctx.event.slot, cooldown):
        return None
    return ctx.send("insights/alert", "dead_group_alert", a=verdict)


def _with_image(message, image: str):
    return message.model_copy(update={"image": image})


@plugin.command("stage", "阶段", "群健康", role="admin")
async def show_stage(ctx: Context):
    return ctx.reply("insights/stage", "stage", a=await assess(ctx.services, ctx.group, ctx.rules, _today(ctx)))


@plugin.command("stats", "统计", "数据", role="admin")
async def show_stats(ctx: Context):
    image, series = await chart(ctx.services, ctx.group, ctx.rules.chart_days, _today(ctx))
    return _with_image(ctx.reply("insights/stats", "stats_chart", series=series, days=len(series)), image)


def layer_of(messages: int, rules: InsightsRules) -> str:
    """core / active / quiet / dormant by messages in the layer window."""
    if messages >= rules.core_messages:
        return "core"
    return "active" if messages >= rules.active_messages else "quiet" if messages else "dormant"


async def _layers(ctx: Context, today: date) -> dict[str, list[dict]]:
    rules: InsightsRules = ctx.rules
    await ctx.stats.flush()
    members = await ctx.store.run(member_activity, ctx.group, today - timedelta(days=rules.layer_window_days - 1))
    layers: dict[str, list[dict]] = {"core": [], "active": [], "quiet": [], "dormant": []}
    for member in sorted(members, key=lambda m: (-m["messages"], m["user_id"])):
        layers[layer_of(member["messages"], rules)].append(member)
    return layers


@plugin.command("layers", "分层", role="admin")
async def show_layers(ctx: Context):
    return ctx.reply("insights/layers", "member_layers", layers=await _layers(ctx, _today(ctx)), window=ctx.rules.layer_window_days)


async def export_members(services, group: str, rules: InsightsRules, today: date, path: Path) -> int:
    """Write the group's member roster as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese);
    return how many members it holds. Only this group's own rows go in."""
    await services.stats.flush()
    roster = await services.store.run(member_roster, group, today - timedelta(days=rules.layer_window_days - 1))
    tags = sorted({tag for member in roster for tag in member["tags"]})
    header = services.templates.render("insights/export_header", window=rules.layer_window_days).split(",")
    labels = _tag_labels(services, group)
    layer_names = dict(zip(("core", "active", "quiet", "dormant"), services.templates.render("insights/layer_names").split(",")))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*header, *(labels.get(tag, tag) for tag in tags)])
        for m in roster:
            writer.writerow([m["user_id"], m["name"], layer_names[layer_of(m["messages"], rules)], m["messages"],
                             m["last_seen"] or "", m["points"], m["checkin_days"], m["joined_on"] or "",
                             *(m["tags"].get(tag, "") for tag in tags)])
    return len(roster)


def _tag_labels(services, group: str) -> dict[str, str]:
    """How the introduction names its fields in this group (``city`` -> 城市), where self_intro runs."""
    intro = services.plugins().get("self_intro")
    rules = services.rules_for(intro, group) if intro is not None else None
    return {f.key: f.label for f in rules.fields} if rules is not None else {}


@plugin.command("export", "导出", role="owner")
async def export(ctx: Context):
    if ctx.call.rest.strip() not in ("members", "成员"):
        return ctx.reply("insights/export_usage", "usage")
    today = _today(ctx)
    path = ctx.export_path(f"members-{today.isoformat()}")
    count = await export_members(ctx.services, ctx.group, ctx.rules, today, path)
    return ctx.reply("insights/exported", "members_exported", count=count).model_copy(update={"file": str(path)})
