"""The points ledger: every change of a member's points is a row; ``members.points`` is kept as their sum.

Check-ins, games, red packets — anything a plugin awards — go through ``award``, so a total can always
be audited (``recompute_totals``) against the rows that made it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, func, select

from bot.store.repos import utc
from bot.store.sql import Sql, as_date
from bot.store.tables import Member, PointsEntry

ledger_t: Table = PointsEntry.__table__
members_t: Table = Member.__table__


_INSERT_ENTRY = Sql("INSERT INTO points_ledger (group_key, user_id, delta, plugin, reason, at)"
                    " VALUES (:group_key, :user_id, :delta, :plugin, :reason, :at)")
_ADD_TO_MEMBER = Sql(
    "INSERT INTO members (group_key, user_id, name, points, checkin_days, streak, best_streak)"
    " VALUES (:group_key, :user_id, :name, :points, 0, 0, 0)"
    " ON CONFLICT (group_key, user_id) DO UPDATE SET points = members.points + excluded.points, name = excluded.name"
    " RETURNING points")


def add_entry(conn: Connection, group: str, user: str, delta: int, plugin: str, reason: str, at: datetime) -> None:
    """The ledger row alone, for a caller that adds ``delta`` to ``members.points`` in its own statement
    of the same transaction (a check-in writes the member row once, points included)."""
    _INSERT_ENTRY.run(conn, {"group_key": group, "user_id": user, "delta": delta, "plugin": plugin, "reason": reason,
                             "at": utc(at)})


def award(conn: Connection, group: str, user: str, name: str, delta: int, plugin: str, reason: str, at: datetime) -> int:
    """Record ``delta`` points for a member (a ledger row) and return their new total."""
    add_entry(conn, group, user, delta, plugin, reason, at)
    return _ADD_TO_MEMBER.first(conn, {"group_key": group, "user_id": user, "name": name, "points": delta})[0]


_MEMBER_COLUMNS = tuple(members_t.c.keys())
# SQL text (bot.store.sql): the red-packet plugin reads this after every repeated check-in, and SQLAlchemy's
# select cost several times the statement.
_STANDING = Sql(f"SELECT {', '.join(_MEMBER_COLUMNS)} FROM members WHERE group_key = :group_key AND user_id = :user_id")


def standing(conn: Connection, group: str, user: str) -> dict | None:
    """A member's row in ``members`` (points, check-in days, streaks, name), or None."""
    row = _STANDING.first(conn, {"group_key": group, "user_id": user})
    if row is None:
        return None
    member = dict(zip(_MEMBER_COLUMNS, row))
    member["last_checkin"] = as_date(member["last_checkin"])
    return member


def points_board(conn: Connection, group: str, limit: int) -> list[dict]:
    rows = conn.execute(
        select(members_t.c.user_id, members_t.c.name, members_t.c.points)
        .where((members_t.c.group_key == group) & (members_t.c.points != 0))
        .order_by(members_t.c.points.desc(), members_t.c.user_id).limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def recompute_totals(conn: Connection, group: str) -> dict[str, int]:
    """Every member's total as the ledger says it (to audit ``members.points`` against)."""
    rows = conn.execute(
        select(ledger_t.c.user_id, func.sum(ledger_t.c.delta)).where(ledger_t.c.group_key == group).group_by(ledger_t.c.user_id)
    )
    return {user: int(total) for user, total in rows}
