"""Message statistics: counted in memory on the hot path, flushed to the database in batches.

Counts are added, never overwritten (``n = n + delta``), so several processes flushing their own
counts for the same group and day sum up right. Readers call ``flush`` first, so what they read
includes everything handled so far.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Table, bindparam, func, select

from bot.model import DeleteMessage, Event, KickMember, MemberJoined, MemberLeft, MessageReceived, MuteMember
from bot.store.repos import counters_t
from bot.store.sql import Sql
from bot.store.tables import MemberDaily

if TYPE_CHECKING:
    from bot.store import Store

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


class _DaySpan:
    """One group's current day: its bounds as UTC instants and that day's message counts per member."""

    __slots__ = ("start", "end", "day", "members")

    def __init__(self, start: datetime, end: datetime, day: date, members: dict[str, list]):
        self.start, self.end, self.day = start, end, day
        self.members = members  # user -> [messages, name last seen]


class Stats:
    """Counts kept in memory and flushed to ``store``; a group's day is its day in ``tz_for(group)``."""

    def __init__(self, store: Store, tz_for: Callable[[str], tzinfo]):
        self.store, self.tz_for = store, tz_for
        # (group, day, counter) -> n. Messages are not among them: they are counted per member, in
        # ``_members``, and summed per group when flushed (one count per message on the hot path, not two).
        self._groups: Counter[tuple[str, date, str]] = Counter()
        # (group, day) -> {user: [messages, name]}: small per-group tables, where a message's count is one
        # look-up in a table the group's messages keep warm rather than in one table of every member.
        self._members: dict[tuple[str, date], dict[str, list]] = {}
        self._member_count = 0  # entries across ``_members``
        # group -> its current day: nearly every event falls in the day of the one before, and a
        # comparison is cheaper than a timezone conversion.
        self._days: dict[str, _DaySpan] = {}

    def observe(self, event: Event, group: str | None = None) -> bool:
        """Count one event (synchronous and cheap: a few dictionary increments at most); True when so much
        is pending that it is time to flush. ``group`` is the event's group key when the caller has it."""
        kind = type(event)
        if kind is MessageReceived:
            group = group or event.group_key
            span = self._span(group, event.at)
            counted = span.members.get(event.user)
            if counted is None:
                span.members[event.user] = [1, event.user_name]
                self._member_count += 1
            else:
                counted[0] += 1
                counted[1] = event.user_name
            if event.kind == "red_packet":
                self._groups[(group, span.day, "red_packets")] += 1
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
            group = action.group_key  # an action may be for another group than the event's
            self._groups[(group, self._day(group, event.at), counter)] += 1

    def _day(self, group: str, at: datetime) -> date:
        """The group's calendar day (in its timezone) at ``at``."""
        return self._span(group, at).day

    def _span(self, group: str, at: datetime) -> _DaySpan:
        span = self._days.get(group)
        try:
            if span is not None and span.start <= at < span.end:
                return span
        except TypeError:  # a naive time (taken as the machine's local time, as astimezone does)
            pass
        zone = self.tz_for(group)
        day = at.astimezone(zone).date()
        # Bounds in UTC, so that they compare as instants whatever the event's own offset.
        start, end = (datetime.combine(d, time(), zone).astimezone(timezone.utc) for d in (day, day + timedelta(days=1)))
        members = self._members.get((group, day))
        if members is None:
            members = self._members[(group, day)] = {}
        span = self._days[group] = _DaySpan(start, end, day, members)
        return span

    @property
    def pending(self) -> int:
        return len(self._groups) + self._member_count

    async def flush(self) -> None:
        if not self.pending:
            return
        groups, members = self._groups, self._members
        self._groups, self._members, self._member_count, self._days = Counter(), {}, 0, {}
        counts = Counter(groups)
        for (g, d), by_user in members.items():
            counts[(g, d, "messages")] += sum(n for n, _name in by_user.values())
        group_rows = [{"group_key": g, "day": d, "counter": c, "n": n} for (g, d, c), n in counts.items()]
        member_rows = [{"group_key": g, "day": d, "user_id": u, "name": name, "messages": n}
                       for (g, d), by_user in members.items() for u, (n, name) in by_user.items()]
        try:
            await self.store.run(write_counts, group_rows, member_rows)
        except Exception:
            self._keep(groups, members)
            raise

    def _keep(self, groups: Counter, members: dict[tuple[str, date], dict[str, list]]) -> None:
        """Put back counts a flush could not write, for the next one rather than lose them to a passing
        database error (names: the newer, counted since, win)."""
        self._groups.update(groups)
        for key, by_user in members.items():
            now = self._members.get(key)
            if now is None:
                now = self._members[key] = {}
            for user, (n, name) in by_user.items():
                counted = now.get(user)
                if counted is None:
                    now[user] = [n, name]
                    self._member_count += 1
                else:
                    counted[0] += n

    async def figures(self, group: str, day: date, top: int = 3) -> dict:
        await self.flush()
        return await self.store.run(day_figures, group, day, top)
