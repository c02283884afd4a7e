"""Read models for the operator's view: a group's daily series and its members' recent activity."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from bot.stats import member_daily_t
from bot.store.admission import tags_t
from bot.store.profiles import profiles_t
from bot.store.repos import counters_t, groups_t
from bot.store.tables import Member

members_t = Member.__table__
SERIES = ("messages", "joins", "leaves", "checkin", "game_turns", "moderation", "red_packets")


def daily_series(conn: Connection, group: str, first: date, last: date) -> list[dict]:
    """One row per day from ``first`` to ``last``: the counters, and the members who spoke that day."""
    days = {first + timedelta(days=i): {**dict.fromkeys(SERIES, 0), "active": 0} for i in range((last - first).days + 1)}
    rows = conn.execute(select(counters_t.c.day, counters_t.c.counter, counters_t.c.n).where(and_(
        counters_t.c.group_key == group, counters_t.c.day >= first, counters_t.c.day <= last,
        counters_t.c.counter.in_(SERIES))))
    for day, counter, n in rows:
        days[day][counter] = n
    active = conn.execute(select(member_daily_t.c.day, func.count()).where(and_(
        member_daily_t.c.group_key == group, member_daily_t.c.day >= first, member_daily_t.c.day <= last,
    )).group_by(member_daily_t.c.day))
    for day, n in active:
        days[day]["active"] = n
    return [{"day": day, **values} for day, values in days.items()]


def distinct_speakers(conn: Connection, group: str, first: date, last: date) -> int:
    return conn.execute(select(func.count(func.distinct(member_daily_t.c.user_id))).where(and_(
        member_daily_t.c.group_key == group, member_daily_t.c.day >= first, member_daily_t.c.day <= last))).scalar_one()


def member_activity(conn: Connection, group: str, since: date) -> list[dict]:
    """Every member the group has seen speak: messages since ``since``, last day seen, name, points."""
    rows = conn.execute(select(
        member_daily_t.c.user_id, func.max(member_daily_t.c.name).label("name"),
        func.max(member_daily_t.c.day).label("last_seen"),
    ).where(member_daily_t.c.group_key == group).group_by(member_daily_t.c.user_id)).all()
    counts = dict(conn.execute(select(member_daily_t.c.user_id, func.sum(member_daily_t.c.messages)).where(and_(
        member_daily_t.c.group_key == group, member_daily_t.c.day >= since)).group_by(member_daily_t.c.user_id)).all())
    points = dict(conn.execute(select(members_t.c.user_id, members_t.c.points).where(members_t.c.group_key == group)).all())
    return [{"user_id": r.user_id, "name": r.name or r.user_id, "last_seen": r.last_seen,
             "messages": int(counts.get(r.user_id, 0)), "points": points.get(r.user_id, 0)} for r in rows]


def first_seen(conn: Connection, group: str) -> datetime | None:
    """When the bot first saw the group (UTC), None for a group it does not know."""
    return conn.execute(select(groups_t.c.first_seen).where(groups_t.c.group_key == group)).scalar_one_or_none()


def member_roster(conn: Connection, group: str, since: date) -> list[dict]:
    """Every member this group knows of — spoke, checked in, joined or introduced themselves — with their
    activity since ``since``, points, join day and introduction tags. Only this group's rows are read."""
    roster: dict[str, dict] = {}

    def entry(user: str) -> dict:
        return roster.setdefault(user, {"user_id": user, "name": "", "messages": 0, "last_seen": None, "points": 0,
                                        "checkin_days": 0, "joined_on": None, "tags": {}})

    for m in member_activity(conn, group, since):
        entry(m["user_id"]).update(name=m["name"], messages=m["messages"], last_seen=m["last_seen"])
    for r in conn.execute(select(members_t.c.user_id, members_t.c.name, members_t.c.points, members_t.c.checkin_days)
                          .where(members_t.c.group_key == group)):
        e = entry(r.user_id)
        e.update(points=r.points, checkin_days=r.checkin_days, name=e["name"] or r.name)
    for r in conn.execute(select(profiles_t.c.user_id, profiles_t.c.name, profiles_t.c.joined_on)
                          .where(profiles_t.c.group_key == group)):
        e = entry(r.user_id)
        e.update(joined_on=r.joined_on, name=e["name"] or r.name)
    for r in conn.execute(select(tags_t.c.user_id, tags_t.c.name, tags_t.c.tag, tags_t.c.value).where(tags_t.c.group_key == group)):
        e = entry(r.user_id)
        e["tags"][r.tag] = r.value
        e["name"] = e["name"] or r.name
    for e in roster.values():
        e["name"] = e["name"] or e["user_id"]
    return sorted(roster.values(), key=lambda e: (-e["messages"], e["user_id"]))


def top_speakers(conn: Connection, group: str, first: date, last: date, limit: int) -> list[dict]:
    """The members who sent the most messages from ``first`` to ``last``."""
    total = func.sum(member_daily_t.c.messages).label("messages")
    rows = conn.execute(select(member_daily_t.c.user_id, func.max(member_daily_t.c.name).label("name"), total).where(and_(
        member_daily_t.c.group_key == group, member_daily_t.c.day >= first, member_daily_t.c.day <= last,
    )).group_by(member_daily_t.c.user_id).order_by(total.desc(), member_daily_t.c.user_id).limit(limit))
    return [{"user_id": r.user_id, "name": r.name or r.user_id, "messages": int(r.messages)} for r in rows]
