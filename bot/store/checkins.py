"""Check-in repository: one row per member per group per day, streaks and points on the member row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import Connection, Table, bindparam, func, select

from bot.store.points import add_entry
from bot.store.repos import bump_counter, dialect_insert, prepared, utc
from bot.store.tables import Checkin, Member

checkins_t: Table = Checkin.__table__
members_t: Table = Member.__table__


class AlreadyCheckedIn(Exception):
    """Raised inside the transaction so that it rolls back (the rank counter included)."""


@dataclass(frozen=True)
class CheckinResult:
    rank: int  # today's N-th in this group
    streak: int
    points: int  # earned by this check-in
    total_points: int
    days: int  # check-in days in this group, all time
    late: bool = False  # for a day before the member's latest check-in: the streak and latest day did not move


_member_key = (members_t.c.group_key == bindparam("g")) & (members_t.c.user_id == bindparam("u"))
_select_member = select(
    members_t.c.streak, members_t.c.last_checkin, members_t.c.points, members_t.c.checkin_days, members_t.c.best_streak
).where(_member_key)
# Points are not among them: they are added to, with a ledger row in the same transaction (bot.store.points).
_MEMBER_VALUES = ("name", "checkin_days", "streak", "best_streak", "last_checkin")


def _insert_checkin(conn: Connection):
    return dialect_insert(conn, checkins_t).on_conflict_do_nothing().returning(checkins_t.c.rank)


def _upsert_member(conn: Connection):
    stmt = dialect_insert(conn, members_t)
    values = {k: stmt.excluded[k] for k in _MEMBER_VALUES} | {"points": members_t.c.points + stmt.excluded.points}
    return stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_=values).returning(members_t.c.points)


def check_in(conn: Connection, group: str, user: str, name: str, day: date, at: datetime,
             points_for: Callable[[int], int]) -> CheckinResult:
    """Record today's check-in; ``points_for(streak)`` gives its points. Raises AlreadyCheckedIn on a second one."""
    member = conn.execute(_select_member, {"g": group, "u": user}).first()
    last = member.last_checkin if member else None
    if last == day:
        raise AlreadyCheckedIn
    # A check-in for a day before the member's latest one (a late or out-of-order event) counts, but
    # must not rewind the streak or the latest day.
    late = last is not None and day < last
    streak = member.streak + 1 if last == day - timedelta(days=1) else member.streak if late else 1
    points = points_for(1 if late else streak)
    # The counter row serialises concurrent check-ins in one group, so ranks are distinct; the key on
    # checkins refuses a member's second one even when two processes race.
    rank = bump_counter(conn, group, day, "checkin")
    row = dict(group_key=group, user_id=user, day=day, at=utc(at), rank=rank, streak=1 if late else streak, points=points)
    if conn.execute(prepared(conn, _insert_checkin), row).first() is None:
        raise AlreadyCheckedIn
    days = (member.checkin_days if member else 0) + 1
    best = max(streak, member.best_streak if member else 0)
    # The member row is written once, with the points (what award would do in a second statement).
    add_entry(conn, group, user, points, "checkin", "checked_in", at)
    total = conn.execute(prepared(conn, _upsert_member), dict(
        group_key=group, user_id=user, name=name, points=points, checkin_days=days, streak=streak,
        best_streak=best, last_checkin=last if late else day,
    )).scalar_one()
    return CheckinResult(rank, streak, points, total, days, late)


def todays_checkin(conn: Connection, group: str, user: str, day: date) -> CheckinResult | None:
    row = conn.execute(
        select(checkins_t.c.rank, checkins_t.c.streak, checkins_t.c.points, members_t.c.points.label("total"), members_t.c.checkin_days)
        .join(members_t, (members_t.c.group_key == checkins_t.c.group_key) & (members_t.c.user_id == checkins_t.c.user_id))
        .where((checkins_t.c.group_key == group) & (checkins_t.c.user_id == user) & (checkins_t.c.day == day))
    ).first()
    return CheckinResult(row.rank, row.streak, row.points, row.total, row.checkin_days) if row else None


def leaderboard(conn: Connection, group: str, since: date | None, limit: int) -> list[dict]:
    """Members ranked by check-in points since ``since`` (all time when None), then by days."""
    if since is None:
        stmt = (
            select(members_t.c.user_id, members_t.c.name, members_t.c.checkin_days.label("days"), members_t.c.points)
            .where((members_t.c.group_key == group) & (members_t.c.checkin_days > 0))
        )
    else:
        days = func.count().label("days")
        points = func.sum(checkins_t.c.points).label("points")
        stmt = (
            select(checkins_t.c.user_id, func.max(members_t.c.name).label("name"), days, points)
            .join(members_t, (members_t.c.group_key == checkins_t.c.group_key) & (members_t.c.user_id == checkins_t.c.user_id))
            .where((checkins_t.c.group_key == group) & (checkins_t.c.day >= since))
            .group_by(checkins_t.c.user_id)
        )
    stmt = stmt.order_by(stmt.selected_columns.points.desc(), stmt.selected_columns.days.desc(), stmt.selected_columns.user_id).limit(limit)
    return [dict(row._mapping) for row in conn.execute(stmt)]
