"""Lotteries (抽奖) and their entries. A group has at most one open lottery; its row is locked by every
entry and by the draw, so an entry racing the draw is either in it or refused."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, func, select, update

from bot.store.moderation import log_t
from bot.store.repos import dialect_insert, utc
from bot.store.tables import Lottery, LotteryEntry

lotteries_t: Table = Lottery.__table__
entries_t: Table = LotteryEntry.__table__


def _row(row) -> dict:
    found = dict(row._mapping)
    found["result"] = json.loads(found["result"])
    return found


def open_lottery(conn: Connection, group: str, lock: bool = False) -> dict | None:
    c = lotteries_t.c
    query = select(lotteries_t).where((c.group_key == group) & (c.status == "open")).order_by(c.id.desc()).limit(1)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _row(row) if row else None


def open_keywords(conn: Connection) -> dict[str, str]:
    """Every group's open lottery keyword."""
    c = lotteries_t.c
    return dict(conn.execute(select(c.group_key, c.keyword).where(c.status == "open").order_by(c.id)).all())


def get_lottery(conn: Connection, lottery: int, lock: bool = False) -> dict | None:
    query = select(lotteries_t).where(lotteries_t.c.id == lottery)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _row(row) if row else None


def last_lottery(conn: Connection, group: str) -> dict | None:
    """The group's open lottery, or else the last one drawn."""
    c = lotteries_t.c
    query = select(lotteries_t).where((c.group_key == group) & c.status.in_(("open", "drawn")))
    row = conn.execute(query.order_by((c.status == "open").desc(), c.id.desc()).limit(1)).first()
    return _row(row) if row else None


def start_lottery(conn: Connection, **values) -> int:
    for key in ("deadline", "started_at"):
        values[key] = utc(values[key])
    return conn.execute(lotteries_t.insert().values(status="open", result="[]", **values).returning(lotteries_t.c.id)).scalar_one()


def close_lottery(conn: Connection, lottery: int, status: str, winners: list[str], at: datetime) -> bool:
    """Mark an open lottery drawn (with its winners) or cancelled; False when it was not open any more."""
    where = (lotteries_t.c.id == lottery) & (lotteries_t.c.status == "open")
    done = conn.execute(update(lotteries_t).where(where).values(status=status, result=json.dumps(winners), drawn_at=utc(at)))
    return done.rowcount == 1


def enter(conn: Connection, lottery: int, user: str, name: str, at: datetime) -> bool:
    """Add a member's entry; False when they had entered already."""
    stmt = dialect_insert(conn, entries_t).values(lottery_id=lottery, user_id=user, name=name, at=utc(at))
    return conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1


def entry_count(conn: Connection, lottery: int) -> int:
    return conn.execute(select(func.count()).where(entries_t.c.lottery_id == lottery)).scalar_one()


def entrants(conn: Connection, lottery: int) -> dict[str, str]:
    """Every entrant's id and name."""
    rows = conn.execute(select(entries_t.c.user_id, entries_t.c.name).where(entries_t.c.lottery_id == lottery))
    return dict(rows.all())


_MUTE = re.compile(r"^mute (\d+)([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


def muted_until(conn: Connection, group: str, user: str) -> datetime | None:
    """When the bot's latest mute of ``user`` here ends (from the moderation log, undone and dry-run
    decisions left out), or None when the latest decision was no mute."""
    c = log_t.c
    where = (c.group_key == group) & (c.user_id == user) & c.dry_run.is_(False) & ~c.decision.startswith("undone")
    row = conn.execute(select(c.decision, c.at).where(where).order_by(c.id.desc()).limit(1)).first()
    found = _MUTE.match(row.decision) if row else None
    if found is None:
        return None
    return row.at + timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2)])
