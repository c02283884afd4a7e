"""Message statistics: counted in memory on the hot path, flushed to the database in batches.

Counts are added, never overwritten (``n = n + delta``), so several processes flushing their own
counts for the same group and day sum up right. Readers call ``flush`` first, so what they read
includes everything handled so far.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Table, bindparam, func, select

from bot.model import DeleteMessage, Event, KickMember, MemberJoined, MemberLeft, MessageReceived, MuteMember
from bot.store.repos import counters_t
from bot.store.sql import Sql
from bot.store.tables import MemberDaily

if TYPE_CHECKING:
    from bot.engine import Engine

member_daily_t: Table = MemberDaily.__table__

# Actions that count as moderation (a mute only when it mutes, not when it lifts one).
MODERATION = (DeleteMessage, KickMember)

# Pending keys that trigger a flush on the hot path (live mode also flushes on a timer).
FLUSH_AT = 20_000


# A flush writes thousands of rows at once (bot.store.sql: SQLAlchemy's handling of each cost more than
# SQLite's upsert of it).
_ADD_COUNTERS = Sql("INSERT INTO daily_counters (group_key, day, counter, n) VALUES (:group_key, :day, :counter, :n)"
                    " ON CONFLICT (group_key, day, counter) DO UPDATE SET n = daily_counters.n + excluded.n")
_ADD_MEMBER_DAYS = Sql(
    "INSERT INTO member_daily (group_key, day, user_id, name, messages) VALUES (:group_key, :day, :user_id, :name, :messages)"
    " ON CONFLICT (group_key, day, user_id) DO UPDATE SET messages = member_daily.messages + excluded.messages,"
    " name = excluded.name")


def write_counts(conn: Connection, groups: list[dict], members: list[dict]) -> None:
    if groups:
        _ADD_COUNTERS.run_many(conn, groups)
    if members:
        _ADD_MEMBER_DAYS.run_many(conn, members)


_counts = select(counters_t.c.counter, counters_t.c.n).where(
    (counters_t.c.group_key == bindparam("g")) & (counters_t.c.day == bindparam("d")))
_member_day = (member_daily_t.c.group_key == bindparam("g")) & (member_daily_t.c.day == bindparam("d"))
_active = select(func.count()).select_from(member_daily_t).where(_member_day)
_talkers = (
    select(member_daily_t.c.user_id, member_daily_t.c.name, member_daily_t.c.messages)
    .where(_member_day).order_by(member_daily_t.c.messages.desc(), member_daily_t.c.user_id).limit(bindparam("top"))
)


def day_figures(conn: Connection, group: str, day: date, top: int) -> dict:
    """A group's figures for one day: messages, active members, joins, leaves, check-ins, top talkers."""
    key = {"g": group, "d": day}
    counts = dict(conn.execute(_counts, key).all())
    active = conn.execute(_active, key).scalar_one()
    talkers = conn.execute(_talkers, {**key, "top": top}).all()
    return {
        "messages": counts.get("messages", 0), "active_members": active, "joins": counts.get("joins", 0),
        "leaves": counts.get("leaves", 0), "checkins": counts.get("checkin", 0),
        "game_turns": counts.get("game_turns", 0), "moderation": counts.get("moderation", 0),
        "red_packets": counts.get("red_packets", 0),
        "top": [{"user": t.user_id, "name": t.name or t.user_id, "messages": t.messages} for t in talkers],
    }


class Stats:
    def __init__(self, engine: "Engine"):
        self.engine = engine
        # (group, day, counter) -> n. Messages are not among them: they are counted per member, in
        # ``_members``, and summed per group when flushed (one count per message on the hot path, not two).
        self._groups: Counter[tuple[str, date, str]] = Counter()
        self._members: Counter[tuple[str, date, str]] = Counter()
        self._names: dict[tuple[str, str], str] = {}
        # group -> (its day's first instant, the next day's, the day): nearly every event falls in the day
        # of the one before, and a comparison is cheaper than a timezone conversion.
        self._days: dict[str, tuple[datetime, datetime, date]] = {}

    def observe(self, event: Event, group: str | None = None) -> bool:
        """Count one event (synchronous and cheap: a few dictionary increments at most); True when so much
        is pending that it is time to flush. ``group`` is the event's group key when the caller has it."""
        kind = type(event)
        if kind is MessageReceived:
            group = group or event.group_key
            day = self._day(group, event.at)
            self._members[(group, day, event.user)] += 1
            self._names[(group, event.user)] = event.user_name
            if event.kind == "red_packet":
                self._groups[(group, day, "red_packets")] += 1
        elif kind is MemberJoined or kind is MemberLeft:
            group = group or event.group_key
            self._groups[(group, self._day(group, event.at), "joins" if kind is MemberJoined else "leaves")] += 1
        else:
            return False
        return self.pending > FLUSH_AT

    def observe_actions(self, event: Event, actions: list) -> None:
        """Count what the bot did about an event: game turns and moderation (deletions, mutes, removals)."""
        for action in actions:
            if action.reason == "idiom_accepted":
                counter = "game_turns"
            elif type(action) in MODERATION or (type(action) is MuteMember and action.seconds > 0):
                counter = "moderation"
            else:
                continue
            group = event.group_key
            self._groups[(group, self._day(group, event.at), counter)] += 1

    def _day(self, group: str, at: datetime) -> date:
        """The group's calendar day (in its timezone) at ``at``."""
        span = self._days.get(group)
        try:
            if span is not None and span[0] <= at < span[1]:
                return span[2]
        except TypeError:  # a naive time (taken as the machine's local time, as astimezone does)
            pass
        zone = self.engine.tz_for(group)
        day = at.astimezone(zone).date()
        # Bounds in UTC, so that they compare as instants whatever the event's own offset.
        start, end = (datetime.combine(d, time(), zone).astimezone(timezone.utc) for d in (day, day + timedelta(days=1)))
        self._days[group] = (start, end, day)
        return day

    @property
    def pending(self) -> int:
        return len(self._groups) + len(self._members)

    async def flush(self) -> None:
        if not self.pending:
            return
        taken = self._groups, self._members, self._names
        self._groups, self._members, self._names = Counter(), Counter(), {}
        counts = Counter(taken[0])
        for (g, d, _user), n in taken[1].items():
            counts[(g, d, "messages")] += n
        groups = [{"group_key": g, "day": d, "counter": c, "n": n} for (g, d, c), n in counts.items()]
        members = [{"group_key": g, "day": d, "user_id": u, "name": taken[2].get((g, u), ""), "messages": n}
                   for (g, d, u), n in taken[1].items()]
        try:
            await self.engine.store.run(write_counts, groups, members)
        except Exception:
            # Keep the counts for the next flush rather than lose them to a passing database error.
            self._groups.update(taken[0])
            self._members.update(taken[1])
            self._names = {**taken[2], **self._names}
            raise

    async def figures(self, group: str, day: date, top: int = 3) -> dict:
        await self.flush()
        return await self.engine.store.run(day_figures, group, day, top)
