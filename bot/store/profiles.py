"""Member profiles (birthday, join date, red packets sent) and prompt cooldowns."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Table, and_, select

from bot.store.repos import dialect_insert, utc
from bot.store.tables import MemberProfile, PromptCooldown

profiles_t: Table = MemberProfile.__table__
cooldowns_t: Table = PromptCooldown.__table__


def _upsert(conn: Connection, group: str, user: str, name: str, **changes):
    stmt = dialect_insert(conn, profiles_t).values(group_key=group, user_id=user, name=name, red_packets=0, **changes)
    return stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_={"name": name, **changes})


def record_join(conn: Connection, group: str, user: str, name: str, day: date) -> None:
    """Remember the day a member joined (the first time only: a re-join keeps the anniversary)."""
    stmt = dialect_insert(conn, profiles_t).values(group_key=group, user_id=user, name=name, red_packets=0, joined_on=day)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["group_key", "user_id"], set_={"joined_on": stmt.excluded.joined_on},
        where=profiles_t.c.joined_on.is_(None)))


def set_birthday(conn: Connection, group: str, user: str, name: str, month_day: str) -> None:
    conn.execute(_upsert(conn, group, user, name, birthday=month_day))


def add_red_packet(conn: Connection, group: str, user: str, name: str) -> int:
    """Count one red packet sent by a member; return how many they have sent in this group."""
    stmt = dialect_insert(conn, profiles_t).values(group_key=group, user_id=user, name=name, red_packets=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["group_key", "user_id"], set_={"red_packets": profiles_t.c.red_packets + 1, "name": name})
    return conn.execute(stmt.returning(profiles_t.c.red_packets)).scalar_one()


def profile(conn: Connection, group: str, user: str) -> dict | None:
    row = conn.execute(select(profiles_t).where(and_(profiles_t.c.group_key == group, profiles_t.c.user_id == user))).first()
    return dict(row._mapping) if row else None


def birthdays_on(conn: Connection, group: str, month_day: str) -> list[dict]:
    rows = conn.execute(select(profiles_t.c.user_id, profiles_t.c.name).where(
        and_(profiles_t.c.group_key == group, profiles_t.c.birthday == month_day)).order_by(profiles_t.c.user_id))
    return [dict(r._mapping) for r in rows]


def anniversaries_on(conn: Connection, group: str, day: date) -> list[dict]:
    """Members who joined on this month and day in an earlier year, with how many years ago."""
    rows = conn.execute(select(profiles_t.c.user_id, profiles_t.c.name, profiles_t.c.joined_on).where(
        and_(profiles_t.c.group_key == group, profiles_t.c.joined_on.is_not(None), profiles_t.c.joined_on < day)))
    return [{"user_id": r.user_id, "name": r.name, "years": day.year - r.joined_on.year}
            for r in rows if (r.joined_on.month, r.joined_on.day) == (day.month, day.day)]


def claim_prompt(conn: Connection, group: str, user: str, kind: str, now: datetime, cooldown: timedelta) -> bool:
    """True (and the cooldown starts) unless ``user`` was prompted for ``kind`` within ``cooldown``. Atomic, so two
    processes cannot both prompt."""
    stmt = dialect_insert(conn, cooldowns_t).values(group_key=group, user_id=user, kind=kind, last_at=utc(now))
    stmt = stmt.on_conflict_do_update(
        index_elements=["group_key", "user_id", "kind"], set_={"last_at": stmt.excluded.last_at},
        where=cooldowns_t.c.last_at <= utc(now - cooldown))
    return conn.execute(stmt.returning(cooldowns_t.c.kind)).first() is not None
