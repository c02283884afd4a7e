"""Lotteries (抽奖): an admin starts one, members enter by its keyword (口令) or /参与抽奖, and at the
deadline the winners are drawn, announced with mentions, and can be checked by anyone.

The draw is fair and verifiable by commit and reveal: at the start the bot publishes the commitment
``sha256(seed)`` of a secret random seed; at the draw it reveals the seed, and the winners are
``draw(seed, entrants, k)`` below, which scripts/verify_lottery.py recomputes from the published values.
The deadline is a stored timer (it survives a restart and fires once however many processes share the
database), and the lottery's row is locked by every entry and by the draw.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timedelta, tzinfo

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import MemberJoined, MessageReceived
from bot.rules import PluginRules
from bot.store.lottery import (close_lottery, enter, entrants, entry_count, get_lottery, last_lottery, muted_until,
                               open_keywords, open_lottery, start_lottery)
from bot.store.points import standing
from bot.store.presence import note_join, presence

DRAW = "draw"
# How long a group's open lottery (its keyword) is trusted before it is read again. Every process that
# receives a group's /抽奖 command learns of it at once; this is the backstop for one that did not (a
# replica that took the group over later), and for a draw another process made.
KEYWORD_TTL = timedelta(minutes=10)
# Up to this many entrants, the draw announcement lists their ids (beyond, /抽奖 名单 does).
LISTED_IDS = 50


def draw(seed: str, entrants: list[str] | set[str], winners: int) -> list[str]:
    """The winners: entrants ranked by ``sha256("<seed>:<id>")`` (hex, ascending; equal hashes by id), the
    first ``winners`` of them. Depends on the set of ids only, never on the order they entered."""
    ranked = sorted(set(entrants), key=lambda user: (hashlib.sha256(f"{seed}:{user}".encode("utf-8")).hexdigest(), user))
    return ranked[:winners]


def commitment(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def roster_digest(entrants: list[str] | set[str]) -> str:
    """sha256 of the sorted entrant ids, one per line: what the announcement pins the list down with."""
    return hashlib.sha256("\n".join(sorted(set(entrants))).encode("utf-8")).hexdigest()


def new_seed() -> str:
    """A secret seed: 32 random bytes as hex (``secrets``, the operating system's randomness)."""
    return secrets.token_hex(32)


class LotteryRules(PluginRules):
    default_keyword: str = Field("参与抽奖", min_length=1, max_length=20)  # when /抽奖 names none
    max_winners: int = Field(100, ge=1, le=1000)
    max_hours: float = Field(720, gt=0, le=8760)  # the latest deadline, from the start
    joined_before_hours: float = Field(0, ge=0, le=8760)  # entrants joined at least this long before the start
    min_checkin_days: int = Field(0, ge=0, le=3650)  # entrants checked in on at least this many days
    exclude_muted: bool = True  # members the bot's moderation muted cannot enter while muted
    confirm_entries: bool = True  # reply to each entry (off: only the command's entries are answered)


class Keywords:
    """Each group's open lottery keyword as this process knows it. Every group's is read in one query
    (``read_at``) by a message that needs it, again after ``KEYWORD_TTL`` (another process may have started
    or drawn one); what this process did itself since is in ``by_group``: group -> (keyword or None, when)."""

    def __init__(self) -> None:
        self.by_group: dict[str, tuple[str | None, datetime]] = {}
        self.open: dict[str, str] = {}
        self.read_at: datetime | None = None

    def known(self, group: str, at: datetime) -> str | None | bool:
        """The keyword, None when no lottery is open, False when it must be read (again)."""
        read_fresh = self.read_at is not None and at - self.read_at <= KEYWORD_TTL
        found = self.by_group.get(group)
        if found is not None and at - found[1] <= KEYWORD_TTL and (not read_fresh or found[1] >= self.read_at):
            return found[0]
        return self.open.get(group) if read_fresh else False


plugin = Plugin("lottery", LotteryRules, priority=110, state=Keywords)


def _may_be_keyword(event: MessageReceived, _rules, state: Keywords, group: str) -> bool:
    text = event.text
    if not text or text[0] in "/／" or len(text) > 40:
        return False
    known = state.known(group, event.at)
    return known is False or (known is not None and text.strip() == known)


_DURATION = re.compile(r"^(\d{1,5})(m|min|分钟|分|h|小时|时|d|天)$")
_CLOCK = re.compile(r"^(明天)?(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})[t_](\d{1,2}):(\d{2})$")
_UNIT_SECONDS = {"m": 60, "min": 60, "分钟": 60, "分": 60, "h": 3600, "小时": 3600, "时": 3600, "d": 86400, "天": 86400}


def parse_deadline(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    """``30m`` / ``2h`` / ``1天``, ``20:00`` (the next one), ``明天20:00``, ``12-24T20:00``, ``2026-12-24T20:00``."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    local = now.astimezone(tz)
    try:
        if found := _DURATION.match(text):
            return now + timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])
        if found := _CLOCK.match(text):
            at = local.replace(hour=int(found.group(2)), minute=int(found.group(3)), second=0, microsecond=0)
            return at + timedelta(days=1) if found.group(1) or at <= local else at
        if found := _DATE.match(text):
            year = int(found.group(1) or local.year)
            at = datetime(year, int(found.group(2)), int(found.group(3)), int(found.group(4)), int(found.group(5)), tzinfo=tz)
            return at if found.group(1) or at > local else at.replace(year=year + 1)
    except ValueError:  # 25:00, 02-30
        return None
    return None


@plugin.on(MemberJoined)
async def remember_join(ctx: Context):
    ev = ctx.event
    await ctx.store.run(note_join, ctx.group, ev.user, ev.user_name, ev.at)


@plugin.command("lottery", "抽奖")
async def lottery(ctx: Context):
    """``/抽奖``: the open lottery; ``/抽奖 名单``; admins: ``/抽奖 奖品 名额 截止时间 [口令]``, ``开奖``, ``取消``."""
    args = ctx.call.args
    first = args[0].lower() if args else ""
    if not args:
        return await _show(ctx)
    if first in ("名单", "list"):
        return await _roster(ctx)
    if ctx.role == "member":
        return ctx.reply("core/refused", "not_permitted", command=f"{ctx.call.name} {args[0]}", needed="admin")
    if first in ("开奖", "draw"):
        return await _draw_now(ctx)
    if first in ("取消", "cancel"):
        return await _cancel(ctx)
    return await _start(ctx)


async def _show(ctx: Context):
    lot = await ctx.store.run(open_lottery, ctx.group)
    if lot is None:
        return ctx.reply("lottery/none", "no_lottery", admin=ctx.role != "member")
    count = await ctx.store.run(entry_count, lot["id"])
    return ctx.reply("lottery/status", "lottery_status", lot=lot, count=count, deadline=lot["deadline"].astimezone(ctx.tz))


async def _start(ctx: Context):
    rules: LotteryRules = ctx.rules
    ev = ctx.event
    args = ctx.call.args
    if len(args) < 3 or len(args) > 4 or not args[1].isdigit():
        return ctx.reply("lottery/usage", "usage")
    prize, count, keyword = args[0][:100], int(args[1]), args[3] if len(args) == 4 else rules.default_keyword
    deadline = parse_deadline(args[2], ev.at, ctx.tz)
    problem = ("count" if not 1 <= count <= rules.max_winners else
               "deadline" if deadline is None or deadline <= ev.at or deadline > ev.at + timedelta(hours=rules.max_hours) else
               "keyword" if keyword[0] in "/／" or len(keyword) > 20 else None)
    if problem:
        return ctx.reply("lottery/invalid", f"invalid_{problem}", problem=problem, max_winners=rules.max_winners,
                         max_hours=rules.max_hours)
    seed = new_seed()

    def begin(conn):
        first = _first(ctx, conn)
        running = open_lottery(conn, ctx.group, lock=True)
        if running or not first:
            return running, "running" if first else "seen"
        values = dict(group_key=ctx.group, prize=prize, winners=count, keyword=keyword, deadline=deadline, seed=seed,
                      commitment=commitment(seed), started_by=ev.user, started_at=ev.at)
        return {**values, "id": start_lottery(conn, **values)}, "started"

    lot, outcome = await ctx.store.run(begin)
    ctx.state.by_group[ctx.group] = (lot["keyword"] if lot else None, ev.at)
    if outcome == "seen":
        return None  # another process sharing the database answered this very command
    if outcome == "running":
        return ctx.reply("lottery/running", "lottery_running", lot=lot, deadline=lot["deadline"].astimezone(ctx.tz))
    return [ctx.send("lottery/started", "lottery_started", lot=lot, deadline=deadline.astimezone(ctx.tz), rules=rules),
            ctx.timer(DRAW, deadline, key=str(lot["id"]))]


@plugin.command("join_lottery", "参与抽奖", "参加抽奖")
async def join_by_command(ctx: Context):
    return await _enter(ctx, by_keyword=False)


@plugin.on(MessageReceived, when=_may_be_keyword)
async def join_by_keyword(ctx: Context):
    ev = ctx.event
    if ctx.state.known(ctx.group, ev.at) is False:
        ctx.state.open, ctx.state.read_at = await ctx.store.run(open_keywords), ev.at
        if ev.text.strip() != ctx.state.known(ctx.group, ev.at):
            return None
    return await _enter(ctx, by_keyword=True)


def _first(ctx: Context, conn) -> bool:
    """Whether this process is the first to handle this message (two processes in one group both get it)."""
    return not ctx.event.id or ctx.first_to_see(conn, f"msg.{ctx.event.id}")


def _ineligible(conn, rules: LotteryRules, lot: dict, group: str, user: str, at: datetime) -> str | None:
    """Why ``user`` may not enter (a short code), or None."""
    seen = presence(conn, group, user)
    joined = seen["joined_at"] if seen else None  # a member the bot never saw join counts as an old one
    if joined is not None and joined > lot["started_at"] - timedelta(hours=rules.joined_before_hours):
        return "too_new"
    if rules.min_checkin_days:
        member = standing(conn, group, user)
        if (member["checkin_days"] if member else 0) < rules.min_checkin_days:
            return "checkins"
    if rules.exclude_muted:
        until = muted_until(conn, group, user)
        if until is not None and until > at:
            return "muted"
    return None


async def _enter(ctx: Context, by_keyword: bool):
    rules: LotteryRules = ctx.rules
    ev = ctx.event

    def take(conn):
        if not _first(ctx, conn):
            return None, "seen", 0
        lot = open_lottery(conn, ctx.group, lock=True)
        if lot is None or lot["deadline"] <= ev.at:
            return lot, "closed", 0
        why = _ineligible(conn, rules, lot, ctx.group, ev.user, ev.at)
        if why:
            return lot, why, 0
        added = enter(conn, lot["id"], ev.user, ev.user_name or ev.user, ev.at)
        return lot, "entered" if added else "already", entry_count(conn, lot["id"])

    lot, outcome, count = await ctx.store.run(take)
    if outcome == "closed" and by_keyword:
        ctx.state.by_group[ctx.group] = (None, ev.at)  # drawn by another process meanwhile
    if outcome == "seen" or (by_keyword and (outcome in ("already", "closed") or not rules.confirm_entries)):
        return None  # another process answered; a keyword said twice or too late; a group that asked for quiet
    if lot is None:
        return ctx.reply("lottery/none", "no_lottery", admin=False)
    return ctx.reply("lottery/entry", f"entry_{outcome}", outcome=outcome, lot=lot, count=count, rules=rules)


async def _draw(ctx: Context, lottery: int, at: datetime):
    """Draw ``lottery`` if it is still open: the effects announcing it, or None."""
    def settle(conn):
        lot = get_lottery(conn, lottery, lock=True)
        if lot is None or lot["status"] != "open":
            return None, {}
        people = entrants(conn, lottery)
        winners = draw(lot["seed"], people, lot["winners"])
        close_lottery(conn, lottery, "drawn", winners, at)
        return lot, people

    lot, people = await ctx.store.run(settle)
    if lot is None:
        return None
    ctx.state.by_group[ctx.group] = (None, at)
    winners = draw(lot["seed"], people, lot["winners"])
    ids = sorted(people)
    return [ctx.send("lottery/drawn", "lottery_drawn", mentions=winners, lot=lot, winners=[{"user": u, "name": people[u]} for u in winners],
                     count=len(ids), ids=ids if len(ids) <= LISTED_IDS else None, digest=roster_digest(ids)),
            ctx.report(f"lottery {ctx.group}: #{lot['id']} drawn, seed {lot['seed']}, {len(ids)} entrants, winners {winners}", "drawn")]


@plugin.timer(DRAW)
async def on_deadline(ctx: Context):
    return await _draw(ctx, int(ctx.event.key), ctx.event.due)


async def _draw_now(ctx: Context):
    def look(conn):
        first = _first(ctx, conn)
        return (open_lottery(conn, ctx.group) if first else None), first

    lot, first = await ctx.store.run(look)
    if not first:
        ctx.state.by_group[ctx.group] = (None, ctx.event.at)
        return None
    if lot is None:
        return ctx.reply("lottery/none", "no_lottery", admin=True)
    drawn = await _draw(ctx, lot["id"], ctx.event.at)
    return [*(drawn or []), ctx.cancel_timer(DRAW, key=str(lot["id"]))]


async def _cancel(ctx: Context):
    def cancel(conn):
        if not _first(ctx, conn):
            return None, False
        lot = open_lottery(conn, ctx.group, lock=True)
        if lot is not None:
            close_lottery(conn, lot["id"], "cancelled", [], ctx.event.at)
        return lot, True

    lot, first = await ctx.store.run(cancel)
    ctx.state.by_group[ctx.group] = (None, ctx.event.at)
    if not first:
        return None
    if lot is None:
        return ctx.reply("lottery/none", "no_lottery", admin=True)
    return [ctx.send("lottery/cancelled", "lottery_cancelled", lot=lot), ctx.cancel_timer(DRAW, key=str(lot["id"]))]


async def _roster(ctx: Context):
    lot = await ctx.store.run(last_lottery, ctx.group)
    if lot is None:
        return ctx.reply("lottery/none", "no_lottery", admin=ctx.role != "member")
    people = await ctx.store.run(entrants, lot["id"])
    return ctx.reply("lottery/roster", "lottery_roster", lot=lot, ids=sorted(people), digest=roster_digest(people),
                     seed=lot["seed"] if lot["status"] == "drawn" else None)
