"""Repositories shared by the engine: known groups, the owner settings layer, the audit log.

Each function takes an open ``Connection`` and runs inside the caller's transaction (``Store.run``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Table, delete, select, update

from bot.store.sql import Sql
from bot.store.tables import AuditEntry, DailyCounter, Group, GroupSetting, ScheduleClaim

groups_t: Table = Group.__table__
settings_t: Table = GroupSetting.__table__
audit_t: Table = AuditEntry.__table__
counters_t: Table = DailyCounter.__table__
claims_t: Table = ScheduleClaim.__table__


def dialect_insert(conn: Connection, table: Table):
    """An INSERT that knows ``ON CONFLICT`` on both SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc)


_REMEMBER_GROUP = Sql("INSERT INTO groups (group_key, first_seen) VALUES (:group_key, :first_seen) ON CONFLICT DO NOTHING")


def remember_group(conn: Connection, key: str, at: datetime) -> None:
    _REMEMBER_GROUP.run(conn, {"group_key": key, "first_seen": utc(at)})


def known_groups(conn: Connection) -> list[str]:
    return list(conn.scalars(select(groups_t.c.group_key).order_by(groups_t.c.group_key)))


def groups_first_seen(conn: Connection) -> dict[str, datetime]:
    """Every known group and when the bot first saw it."""
    return {key: at for key, at in conn.execute(select(groups_t.c.group_key, groups_t.c.first_seen))}


_BUMP_COUNTER = Sql("INSERT INTO daily_counters (group_key, day, counter, n) VALUES (:group_key, :day, :counter, 1)"
                    " ON CONFLICT (group_key, day, counter) DO UPDATE SET n = daily_counters.n + 1 RETURNING n")


def bump_counter(conn: Connection, key: str, day, counter: str) -> int:
    """Atomically add one to a group's counter for ``day`` and return the new value."""
    return _BUMP_COUNTER.first(conn, {"group_key": key, "day": day, "counter": counter})[0]


_CLAIM = Sql("INSERT INTO schedule_claims (job, group_key, slot, claimed_at, claimed_by, sent_at)"
             " VALUES (:job, :group_key, :slot, :claimed_at, :claimed_by, :sent_at) ON CONFLICT DO NOTHING")


def claim_slot(conn: Connection, job: str, group: str, slot: datetime, now: datetime, by: str = "",
               sent: datetime | None = None) -> bool:
    """Claim a job's slot for a group; False when it was claimed already (by this or another process).
    ``sent`` marks it delivered at once (replay, whose output is written before anything else happens)."""
    row = {"job": job, "group_key": group, "slot": utc(slot), "claimed_at": utc(now), "claimed_by": by,
           "sent_at": utc(sent) if sent else None}
    return _CLAIM.run(conn, row) == 1


def _claim_key(job: str, group: str, slot: datetime):
    return (claims_t.c.job == job) & (claims_t.c.group_key == group) & (claims_t.c.slot == utc(slot))


def mark_sent(conn: Connection, job: str, group: str, slot: datetime, at: datetime) -> None:
    conn.execute(update(claims_t).where(_claim_key(job, group, slot)).values(sent_at=utc(at)))


def unsent_claims(conn: Connection, since: datetime) -> list[tuple[str, str, datetime, str]]:
    """``(job, group, slot, claimed_by)`` of slots since ``since`` claimed but never delivered."""
    where = claims_t.c.sent_at.is_(None) & (claims_t.c.slot >= utc(since))
    cols = (claims_t.c.job, claims_t.c.group_key, claims_t.c.slot, claims_t.c.claimed_by)
    return [tuple(r) for r in conn.execute(select(*cols).where(where).order_by(claims_t.c.slot))]


def take_over_claim(conn: Connection, job: str, group: str, slot: datetime, old: str, new: str, now: datetime) -> bool:
    """Move an undelivered claim from ``old`` to ``new``; False when it was delivered or taken meanwhile."""
    where = _claim_key(job, group, slot) & (claims_t.c.claimed_by == old) & claims_t.c.sent_at.is_(None)
    return conn.execute(update(claims_t).where(where).values(claimed_by=new, claimed_at=utc(now), sent_at=utc(now))).rowcount == 1


def load_settings(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Every owner setting, as ``{(plugin, group): {key: value}}`` (dotted keys already nested)."""
    layers: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(select(settings_t)):
        node = layers.setdefault((row.plugin, row.group_key), {})
        *parents, last = row.key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = json.loads(row.value)
    return layers


def save_setting(conn: Connection, group: str, plugin: str, key: str, value: Any) -> str | None:
    """Store one owner setting; return the previous value as JSON (None if there was none)."""
    where = (settings_t.c.group_key == group) & (settings_t.c.plugin == plugin) & (settings_t.c.key == key)
    old = conn.execute(select(settings_t.c.value).where(where)).scalar_one_or_none()
    new = json.dumps(value, ensure_ascii=False)
    if value is None:
        conn.execute(delete(settings_t).where(where))
        return old
    stmt = dialect_insert(conn, settings_t).values(group_key=group, plugin=plugin, key=key, value=new)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "plugin", "key"], set_={"value": new}))
    return old


def add_audit(conn: Connection, **entry: Any) -> None:
    entry["at"] = utc(entry["at"])
    conn.execute(audit_t.insert().values(**entry))


def audit_entries(conn: Connection, group: str) -> list[dict]:
    rows = conn.execute(select(audit_t).where(audit_t.c.group_key == group).order_by(audit_t.c.id))
    return [dict(row._mapping) for row in rows]
