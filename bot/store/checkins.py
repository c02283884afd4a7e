"""Check-in repository: one row per member per group per day, streaks and points on the member row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import Connection, Table, func, select

from bot.store.points import add_entry
from bot.store.repos import bump_counter, utc
from bot.store.sql import Sql, as_date
from bot.store.tables import Checkin, Member

checkins_t: Table = Checkin.__table__
members_t: Table = Member.__table__


@dataclass(frozen=True)
class CheckinResult:
    rank: int  # today's N-th in this group
    streak: int
    points: int  # earned by this check-in
    total_points: int
    days: int  # check-in days in this group, all time
    late: bool = False  # for a day before the member's latest check-in: the streak and latest day did not move


class AlreadyCheckedIn(Exception):
    """Raised inside the transaction so that it rolls back (the rank counter included). ``earlier`` is the
    day's check-in as that transaction read it, so that the answer needs no second transaction (None
    when the member row is missing); ``message`` the id of the message that made it, if known."""

    def __init__(self, earlier: CheckinResult | None, message: str | None = None):
        super().__init__(earlier)
        self.earlier, self.message = earlier, message


# The hot statements are SQL text (bot.store.sql): SQLAlchemy's per-statement overhead cost more than
# the five statements and the commit of a check-in together.
_SELECT_MEMBER = Sql("SELECT streak, last_checkin, checkin_days, best_streak FROM members"
                     " WHERE group_key = :group_key AND user_id = :user_id")
# The key refuses a member's second check-in on a day even when two processes race. The row count says
# whether it went in (RETURNING would tell no more, at a cost).
_INSERT_CHECKIN = Sql("INSERT INTO checkins (group_key, user_id, day, at, rank, streak, points, message_id)"
                      " VALUES (:group_key, :user_id, :day, :at, :rank, :streak, :points, :message_id)"
                      " ON CONFLICT DO NOTHING")
# Points are added to, not set: the ledger row for them is written in the same transaction (bot.store.points).
_UPSERT_MEMBER = Sql(
    "INSERT INTO members (group_key, user_id, name, points, checkin_days, streak, best_streak, last_checkin)"
    " VALUES (:group_key, :user_id, :name, :points, :checkin_days, :streak, :best_streak, :last_checkin)"
    " ON CONFLICT (group_key, user_id) DO UPDATE SET name = excluded.name, checkin_days = excluded.checkin_days,"
    " streak = excluded.streak, best_streak = excluded.best_streak, last_checkin = excluded.last_checkin,"
    " points = members.points + excluded.points RETURNING points")
_TODAYS = Sql("SELECT c.rank, c.streak, c.points, m.points, m.checkin_days, c.message_id FROM checkins c"
              " JOIN members m ON m.group_key = c.group_key AND m.user_id = c.user_id"
              " WHERE c.group_key = :group_key AND c.user_id = :user_id AND c.day = :day")


def check_in(conn: Connection, group: str, user: str, name: str, day: date, at: datetime,
             points_for: Callable[[int], int], message: str | None = None) -> CheckinResult:
    """Record today's check-in, made by the platform's message ``message``; ``points_for(streak)`` gives its
    points. Raises AlreadyCheckedIn on a second one."""
    key = {"group_key": group, "user_id": user}
    member = _SELECT_MEMBER.first(conn, key)
    streak_was, last, days_were, best_was = member or (0, None, 0, 0)
    last = as_date(last)
    if last == day:
        raise AlreadyCheckedIn(*_todays(conn, group, user, day))
    # A check-in for a day before the member's latest one (a late or out-of-order event) counts, but
    # must not rewind the streak or the latest day.
    late = last is not None and day < last
    streak = streak_was + 1 if last == day - timedelta(days=1) else streak_was if late else 1
    points = points_for(1 if late else streak)
    # The counter row serialises concurrent check-ins in one group, so ranks are distinct.
    rank = bump_counter(conn, group, day, "checkin")
    row = {**key, "day": day, "at": utc(at), "rank": rank, "streak": 1 if late else streak, "points": points,
           "message_id": message}
    if _INSERT_CHECKIN.run(conn, row) == 0:  # another process was first (or a late event's day was taken)
        raise AlreadyCheckedIn(*_todays(conn, group, user, day))
    # The member row is written once, with the points (what award would do in a second statement).
    add_entry(conn, group, user, points, "checkin", "checked_in", at)
    total = _UPSERT_MEMBER.first(conn, {
        **key, "name": name, "points": points, "checkin_days": days_were + 1, "streak": streak,
        "best_streak": max(streak, best_was), "last_checkin": last if late else day,
    })[0]
    return CheckinResult(rank, streak, points, total, days_were + 1, late)


def todays_checkin(conn: Connection, group: str, user: str, day: date) -> CheckinResult | None:
    return _todays(conn, group, user, day)[0]


def _todays(conn: Connection, group: str, user: str, day: date) -> tuple[CheckinResult | None, str | None]:
    """The day's check-in and the id of the message that made it."""
    row = _TODAYS.first(conn, {"group_key": group, "user_id": user, "day": day})
    return (CheckinResult(*row[:5]), row[5]) if row else (None, None)


def leaderboard(conn: Connection, group: str, since: date | None, limit: int) -> list[dict]:
    """Members ranked by check-in points since ``since`` (all time when None), then by days, then by who got
    there first (the earlier latest check-in), so that equal scores read in the order people checked in."""
    if since is None:
        # The latest check-in is found by its key (the member's last day), not by reading the group's history.
        latest = (members_t.c.group_key == checkins_t.c.group_key) & (members_t.c.user_id == checkins_t.c.user_id) \
            & (members_t.c.last_checkin == checkins_t.c.day)
        stmt = (
            select(members_t.c.user_id, members_t.c.name, members_t.c.checkin_days.label("days"), members_t.c.points,
                   checkins_t.c.at.label("reached"))
            .select_from(members_t.outerjoin(checkins_t, latest))
            .where((members_t.c.group_key == group) & (members_t.c.checkin_days > 0))
        )
    else:
        days = func.count().label("days")
        points = func.sum(checkins_t.c.points).label("points")
        stmt = (
            select(checkins_t.c.user_id, func.max(members_t.c.name).label("name"), days, points,
                   func.max(checkins_t.c.at).label("reached"))
            .join(members_t, (members_t.c.group_key == checkins_t.c.group_key) & (members_t.c.user_id == checkins_t.c.user_id))
            .where((checkins_t.c.group_key == group) & (checkins_t.c.day >= since))
            .group_by(checkins_t.c.user_id)
        )
    columns = stmt.selected_columns
    stmt = stmt.order_by(columns.points.desc(), columns.days.desc(), columns.reached, columns.user_id).limit(limit)
    return [dict(row._mapping) for row in conn.execute(stmt)]
