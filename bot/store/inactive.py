"""Sleeping members (潜水): who has been silent, from the statistics the bot keeps, and the clean-up's
warnings (one row per warned member, spared when they speak before the deadline)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy import Connection, Table, delete, select, update

from bot.store.checkins import checkins_t, members_t
from bot.store.insights import member_activity
from bot.store.presence import group_presence, still_here
from bot.store.repos import dialect_insert, utc
from bot.store.tables import InactiveWarning

warnings_t: Table = InactiveWarning.__table__


def roster(conn: Connection, group: str, since: date, tz: tzinfo) -> list[dict]:
    """Every member the group knows of and who is still in it: ``user_id``, ``name``, ``role`` (above
    member once seen), ``messages`` since ``since``, ``spoke`` (ever seen speaking), and ``last_active``,
    the latest of the last day they spoke, checked in or joined (None when none is known)."""
    seen = group_presence(conn, group)
    known: dict[str, dict] = {}

    def entry(user: str) -> dict:
        return known.setdefault(user, {"user_id": user, "name": "", "role": "member", "messages": 0, "spoke": False,
                                       "last_active": None})

    def later(e: dict, day: date | None) -> None:
        if day is not None and (e["last_active"] is None or day > e["last_active"]):
            e["last_active"] = day

    for m in member_activity(conn, group, since):
        e = entry(m["user_id"])
        e.update(name=m["name"], messages=m["messages"], spoke=True)
        later(e, m["last_seen"])
    for user, name, last in conn.execute(select(members_t.c.user_id, members_t.c.name, members_t.c.last_checkin)
                                         .where(members_t.c.group_key == group)):
        e = entry(user)
        e["name"] = e["name"] or name
        later(e, last)
    for user, row in seen.items():
        e = entry(user)
        e.update(name=e["name"] or row["name"], role=row["role"])
        later(e, row["joined_at"].astimezone(tz).date() if row["joined_at"] else None)
    return [e for user, e in known.items() if still_here(seen.get(user))]


def save_warnings(conn: Connection, group: str, members: list[dict], at: datetime, deadline: datetime) -> None:
    for m in members:
        row = {"name": m["name"], "warned_at": utc(at), "deadline": utc(deadline), "spared_at": None}
        stmt = dialect_insert(conn, warnings_t).values(group_key=group, user_id=m["user_id"], **row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_=row))


def warnings(conn: Connection, group: str, lock: bool = False) -> list[dict]:
    query = select(warnings_t).where(warnings_t.c.group_key == group).order_by(warnings_t.c.user_id)
    return [dict(r._mapping) for r in conn.execute(query.with_for_update() if lock else query)]


def warned_users(conn: Connection) -> dict[str, set[str]]:
    """Members warned and not spared yet, per group."""
    c = warnings_t.c
    found: dict[str, set[str]] = {}
    for group, user in conn.execute(select(c.group_key, c.user_id).where(c.spared_at.is_(None))):
        found.setdefault(group, set()).add(user)
    return found


def spare(conn: Connection, group: str, user: str, at: datetime) -> bool:
    """A warned member spoke: they stay. False when they were not (or no longer) warned."""
    c = warnings_t.c
    where = (c.group_key == group) & (c.user_id == user) & c.spared_at.is_(None)
    return conn.execute(update(warnings_t).where(where).values(spared_at=utc(at))).rowcount == 1


def drop_warnings(conn: Connection, group: str, user: str | None = None) -> int:
    where = warnings_t.c.group_key == group
    if user is not None:
        where &= warnings_t.c.user_id == user
    return conn.execute(delete(warnings_t).where(where)).rowcount


def checked_in_since(conn: Connection, group: str, since: datetime) -> set[str]:
    c = checkins_t.c
    return set(conn.scalars(select(c.user_id).where((c.group_key == group) & (c.at >= utc(since)))))
