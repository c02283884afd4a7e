"""Mute windows (quiet hours): the group is muted during windows set by weekday, time and date, aware of
China's public holidays and 调休 make-up workdays, in the group's timezone; ``/quiet 30m`` adds one.

The windows of a group are one trigger whose fire times are the edges of the merged windows (overlapping
windows merge), plus a "sync" slot whenever the group is (re)planned: at start, when a group is first
seen, when rules change. Every slot reconciles: the state the group should be in *now* against the
state stored in the database, so a bot started inside a window mutes, a window that ended while it was
down is closed, and repeated slots change nothing. The bot lifts only the mute it put on itself; an
admin's ``/quiet on`` holds the group muted until ``/quiet off``, whatever the windows say.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot import almanac
from bot.bus import Context, Plugin
from bot.model import MessageReceived, MuteAll
from bot.rules import ClockSpan, PluginRules, hour_minute
from bot.store.moderation import save_window_state, window_state

_DURATION = re.compile(r"^(\d{1,4})([mhd]|分钟|小时|天)?$")
_UNITS = {"m": 60, "分钟": 60, "h": 3600, "小时": 3600, "d": 86400, "天": 86400, None: 60}
ADHOC_END = "adhoc_end"  # the timer that ends a /quiet window


class WindowRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    time: ClockSpan  # "09:00-10:00"; an end at or before the start runs past midnight ("23:00-07:00")
    days: almanac.Days = "every"  # [] = on the listed dates only
    dates: list[date] = []  # extra dates on which the window also applies
    holidays: Literal["skip", "apply"] = "skip"  # on an official public holiday (off day)
    makeup_workdays: Literal["skip", "apply"] = "skip"  # on a 调休 make-up workday (a weekend day worked)


class MuteWindowRules(PluginRules):
    windows: dict[str, WindowRules] = {}
    extra_holidays: list[date] = []  # dates that count as public holidays whatever the calendar says
    extra_workdays: list[date] = []  # dates that count as (make-up) workdays
    announce: bool = True  # announce the start and end of a window
    remind: bool = True  # where the platform cannot mute all: remind members who speak in a window


class MuteWindowState:
    def __init__(self) -> None:
        self.unknown_years: set[int] = set()  # years whose holiday calendar is not published
        self.reported_years: set[int] = set()  # ... already told to the operators
        self.synced: set[str] = set()  # groups whose state this process has settled
        self.reminded: dict[tuple[str, str], datetime | None] = {}  # (group, user) -> the window they were reminded of
        # group -> (the bot can mute all there, until when that answer is trusted): asked of the live
        # capabilities once a minute at most, so that a group where it can is not looked at per message.
        self.can_mute_all: dict[str, tuple[bool, datetime]] = {}


plugin = Plugin("mute_window", MuteWindowRules, priority=20, state=MuteWindowState)


# ----------------------------------------------------------------------------- the calendar


def applies(window: WindowRules, rules: MuteWindowRules, day: date, unknown: set[int]) -> bool:
    """Whether ``window`` starts on ``day`` (a year whose calendar is not published goes into ``unknown``)."""
    if not window.enabled:
        return False
    if day in window.dates:
        return True
    info = almanac.describe(day, frozenset(rules.extra_holidays), frozenset(rules.extra_workdays))
    if info.workday is None:
        unknown.add(day.year)
    holiday = info.workday is False and (info.holiday is not None or day in rules.extra_holidays)
    if holiday and window.holidays == "skip":
        return False
    if info.makeup_workday and window.makeup_workdays == "apply":
        return True
    return almanac.on_days(window.days, info)


def intervals(rules: MuteWindowRules, tz, first: date, last: date, unknown: set[int]) -> list[tuple[datetime, datetime]]:
    """The merged windows starting between ``first`` and ``last`` (inclusive), in time order."""
    spans = []
    day = first
    while day <= last:
        for window in rules.windows.values():
            if applies(window, rules, day, unknown):
                (h1, m1), (h2, m2) = (hour_minute(t) for t in window.time.split("-"))
                start = datetime.combine(day, time(h1, m1), tzinfo=tz)
                end = datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=h2, minutes=m2)
                if end <= start:
                    end += timedelta(days=1)
                spans.append((start, end))
        day += timedelta(days=1)
    spans.sort()
    merged: list[list[datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class WindowEdges:
    """An APScheduler-style trigger: the first call gives a sync slot, later ones the next window edge."""

    HORIZONS = (8, 40, 400)  # days looked ahead, growing until an edge is found

    def __init__(self, rules: MuteWindowRules, tz, unknown: set[int]):
        self.rules, self.tz, self.unknown = rules, tz, unknown

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        if previous is None:
            return now
        today = now.astimezone(self.tz).date()
        for ahead in self.HORIZONS:
            spans = intervals(self.rules, self.tz, today - timedelta(days=2), today + timedelta(days=ahead), self.unknown)
            horizon = datetime.combine(today + timedelta(days=ahead), time(0), tzinfo=self.tz)
            edges = sorted(t for span in spans for t in span if now <= t < horizon)
            if edges:
                return edges[0]
        return None


def in_window(rules: MuteWindowRules, tz, now: datetime, unknown: set[int]) -> tuple[datetime, datetime] | None:
    today = now.astimezone(tz).date()
    for start, end in intervals(rules, tz, today - timedelta(days=2), today + timedelta(days=1), unknown):
        if start <= now < end:
            return start, end
    return None


def _report_unknown(ctx: Context) -> list:
    state: MuteWindowState = ctx.state
    reports = []
    for year in sorted(state.unknown_years - state.reported_years):
        state.reported_years.add(year)
        reports.append(ctx.report(f"mute_window: the {year} holiday calendar is not published in chinese-calendar yet; "
                                  "windows run by weekday there, without holidays or 调休 (extra_holidays / extra_workdays fill the gap)",
                                  "calendar_unknown"))
    return reports


def _jobs(rules: MuteWindowRules, tz) -> dict:
    return {"edge": WindowEdges(rules, tz, set())} if rules.windows else {}


# ----------------------------------------------------------------------------- reconciling


async def reconcile(ctx: Context, now: datetime) -> list:
    """Bring the group to the state it should be in at ``now``; the actions that takes."""
    rules: MuteWindowRules = ctx.rules
    window = in_window(rules, ctx.tz, now, ctx.state.unknown_years)
    reports = _report_unknown(ctx)

    def change(conn):
        state = window_state(conn, ctx.group)
        until = state["adhoc_until"]
        expired = until is not None and until <= now
        if expired:
            state["adhoc_until"] = until = None
        want = bool(window) or until is not None or state["held"]
        if want == state["muted"]:
            if expired:
                save_window_state(conn, state, now)
            return None
        state["muted"] = want
        save_window_state(conn, state, now)
        ends = window[1] if window else until
        return {"on": want, "ends": ends.astimezone(ctx.tz) if ends and want else None}

    changed = await ctx.store.run(change)
    if changed is None:
        return reports
    return [*reports, mute_all(ctx, changed["on"], changed["ends"])]


def mute_all(ctx: Context, on: bool, ends: datetime | None) -> MuteAll:
    """Mute (or unmute) the group, with the announcement for where it is done and the words for where the
    platform cannot: the outbox picks one from what the bot can do in that group, and sends the announcement
    only once the mute-all succeeded (a failed one is reported to the admin log, the group told nothing)."""
    ev = ctx.event
    reason = "window_start" if on else "window_end"
    page = "mute_window/start" if on else "mute_window/end"
    return MuteAll(platform=ev.platform, group=ev.group, on=on, reason=reason,
                   announce=ctx.render(page, ends=ends, fallback=False) if ctx.rules.announce else None,
                   fallback=ctx.render(page, ends=ends, fallback=True))


@plugin.schedule(_jobs)
async def on_edge(ctx: Context):
    """A window edge or a sync slot: reconcile."""
    return await reconcile(ctx, ctx.now)


@plugin.timer(ADHOC_END)
async def on_adhoc_end(ctx: Context):
    """The end of a /quiet window: reconcile."""
    return await reconcile(ctx, ctx.now)


# ----------------------------------------------------------------------------- members and admins


def _unsynced(_ev, rules: MuteWindowRules, state: MuteWindowState, group: str) -> bool:
    """A group with windows whose state this process has not settled yet."""
    return bool(rules.windows) and group not in state.synced


@plugin.on(MessageReceived, when=_unsynced)
async def first_sight(ctx: Context):
    """The first message this process sees from a group settles its state at once (a replay that starts
    inside a window begins muted), before the scheduler's sync slot comes round."""
    ctx.state.synced.add(ctx.group)
    return await reconcile(ctx, ctx.event.at)


CAPABILITY_TRUSTED = timedelta(minutes=1)


def _remind_filter(event, rules: MuteWindowRules, state: MuteWindowState, group: str) -> bool:
    if not (rules.remind and event.role == "member"):
        return False
    known = state.can_mute_all.get(group)
    return known is None or not known[0] or known[1] <= event.at


@plugin.on(MessageReceived, when=_remind_filter)
async def remind(ctx: Context):
    """No mute-all in this group: a member who speaks in a window is reminded, once per window."""
    can = ctx.can("mute_all")
    ctx.state.can_mute_all[ctx.group] = (can, ctx.event.at + CAPABILITY_TRUSTED)
    if ctx.role != "member" or can:
        return None
    now = ctx.event.at
    window = in_window(ctx.rules, ctx.tz, now, ctx.state.unknown_years)
    state = await ctx.store.run(window_state, ctx.group)
    until = state["adhoc_until"]
    ends = window[1] if window else (until if until and until > now else None)
    if ends is None and not state["held"]:
        return None
    key = (ctx.group, ctx.event.user)
    if key in ctx.state.reminded and ctx.state.reminded[key] == ends:
        return None
    ctx.state.reminded[key] = ends
    return ctx.reply("mute_window/remind", "window_reminder", ends=ends.astimezone(ctx.tz) if ends else None)


@plugin.command("mute_window", "安静时段", role="admin")
async def show_windows(ctx: Context):
    now = ctx.event.at
    unknown = ctx.state.unknown_years
    today = now.astimezone(ctx.tz).date()
    spans = [s for s in intervals(ctx.rules, ctx.tz, today - timedelta(days=1), today + timedelta(days=14), unknown) if s[1] > now]
    reports = _report_unknown(ctx)
    state = await ctx.store.run(window_state, ctx.group)
    shown = [{"start": s.astimezone(ctx.tz), "end": e.astimezone(ctx.tz), "now": s <= now} for s, e in spans[:5]]
    adhoc = state["adhoc_until"]  # stored in UTC; shown in the group's time, and only while it lasts
    return [*reports, ctx.reply("mute_window/list", "windows_shown", windows=shown, held=state["held"],
                                adhoc=adhoc.astimezone(ctx.tz) if adhoc and adhoc > now else None, unknown=sorted(unknown),
                                can_mute_all=ctx.can("mute_all"))]


def _parse_quiet(args: tuple[str, ...]) -> int | str | None:
    """Seconds of an ad-hoc window, "on" (hold), "off", or None when the argument is not understood."""
    arg = args[0].lower() if args else ""
    if arg in ("on", "off", "开", "关"):
        return {"开": "on", "关": "off"}.get(arg, arg)
    m = _DURATION.match(arg)
    if not m or int(m.group(1)) == 0:
        return None
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    return seconds if seconds <= 7 * 86400 else None


@plugin.command("quiet", "安静", "全员禁言", role="admin")
async def quiet(ctx: Context):
    """``/quiet 30m`` a window from now; ``/quiet on`` hold the group muted; ``/quiet off`` end both."""
    what = _parse_quiet(ctx.call.args)
    if what is None:
        return ctx.reply("mute_window/quiet_usage", "usage")
    now = ctx.event.at

    def set_quiet(conn):
        state = window_state(conn, ctx.group)
        if what == "off":
            state.update(adhoc_until=None, held=False)
        elif what == "on":
            state["held"] = True
        else:
            state["adhoc_until"] = now + timedelta(seconds=what)
        save_window_state(conn, state, now)
        return state

    state = await ctx.store.run(set_quiet)
    until = state["adhoc_until"]
    timer = ctx.timer(ADHOC_END, until) if until is not None else ctx.cancel_timer(ADHOC_END)
    actions = await reconcile(ctx, now)
    if not any(isinstance(a, MuteAll) for a in actions):
        actions.append(ctx.reply("mute_window/quiet_noted", "quiet_noted", what=what if isinstance(what, str) else "adhoc",
                                 can_mute_all=ctx.can("mute_all")))
    return [*actions, timer]
