"""Plugins' timers (``ctx.timer``): one row per (group, plugin, timer, key).

Setting a timer again replaces its row; firing it deletes the row, and only the process whose delete
found the row (at the same due time) fires it, so a timer fires once however many processes armed it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Table, delete, select

from bot.store.repos import dialect_insert, utc
from bot.store.tables import Timer

timers_t: Table = Timer.__table__


class StoredTimer(NamedTuple):
    group: str
    plugin: str
    name: str
    key: str
    due: datetime
    payload: dict


def _where(group: str, plugin: str, name: str, key: str):
    c = timers_t.c
    return (c.group_key == group) & (c.plugin == plugin) & (c.name == name) & (c.key == key)


def save_timer(conn: Connection, timer: StoredTimer) -> None:
    row = {"due": utc(timer.due), "payload": json.dumps(timer.payload, ensure_ascii=False, sort_keys=True)}
    stmt = dialect_insert(conn, timers_t).values(group_key=timer.group, plugin=timer.plugin, name=timer.name,
                                                 key=timer.key, **row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "plugin", "name", "key"], set_=row))


def drop_timer(conn: Connection, group: str, plugin: str, name: str, key: str) -> None:
    conn.execute(delete(timers_t).where(_where(group, plugin, name, key)))


def claim_timer(conn: Connection, timer: StoredTimer) -> bool:
    """Take the timer to fire it: False when another process fired it, or it was moved or cancelled."""
    where = _where(timer.group, timer.plugin, timer.name, timer.key) & (timers_t.c.due == utc(timer.due))
    return conn.execute(delete(timers_t).where(where)).rowcount == 1


def stored_timers(conn: Connection, until: datetime | None = None) -> list[StoredTimer]:
    """Every stored timer (due at or before ``until`` when given), earliest first."""
    c = timers_t.c
    query = select(c.group_key, c.plugin, c.name, c.key, c.due, c.payload).order_by(c.due, c.group_key, c.key)
    if until is not None:
        query = query.where(c.due <= utc(until))
    return [StoredTimer(g, p, n, k, d, json.loads(pl)) for g, p, n, k, d, pl in conn.execute(query)]
