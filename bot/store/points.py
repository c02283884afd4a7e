"""The points ledger: every change of a member's points is a row; ``members.points`` is kept as their sum.

Check-ins, games, red packets — anything a plugin awards — go through ``award``, so a total can always
be audited (``recompute_totals``) against the rows that made it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, func, select

from bot.store.repos import dialect_insert, prepared, utc
from bot.store.tables import Member, PointsEntry

ledger_t: Table = PointsEntry.__table__
members_t: Table = Member.__table__


def _insert_entry(conn: Connection):
    return ledger_t.insert()


def _add_to_member(conn: Connection):
    stmt = dialect_insert(conn, members_t)
    return stmt.on_conflict_do_update(
        index_elements=["group_key", "user_id"],
        set_={"points": members_t.c.points + stmt.excluded.points, "name": stmt.excluded.name},
    ).returning(members_t.c.points)


def add_entry(conn: Connection, group: str, user: str, delta: int, plugin: str, reason: str, at: datetime) -> None:
    """The ledger row alone, for a caller that adds ``delta`` to ``members.points`` in its own statement
    of the same transaction (a check-in writes the member row once, points included)."""
    conn.execute(prepared(conn, _insert_entry), dict(
        group_key=group, user_id=user, delta=delta, plugin=plugin, reason=reason, at=utc(at)))


def award(conn: Connection, group: str, user: str, name: str, delta: int, plugin: str, reason: str, at: datetime) -> int:
    """Record ``delta`` points for a member (a ledger row) and return their new total."""
    add_entry(conn, group, user, delta, plugin, reason, at)
    return conn.execute(prepared(conn, _add_to_member), dict(
        group_key=group, user_id=user, name=name, points=delta, checkin_days=0, streak=0, best_streak=0,
    )).scalar_one()


_standing = select(members_t).where((members_t.c.group_key == bindparam("g")) & (members_t.c.user_id == bindparam("u")))


def standing(conn: Connection, group: str, user: str) -> dict | None:
    """A member's row in ``members`` (points, check-in days, streaks, name), or None."""
    row = conn.execute(_standing, {"g": group, "u": user}).first()
    return dict(row._mapping) if row else None


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
