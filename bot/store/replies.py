"""Keyword answers admins add from the chat (``/词条 添加``), per group. The rule file's entries are not
stored: the file is their home, and the chat cannot delete them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, func, select

from bot.store.repos import dialect_insert, utc
from bot.store.tables import ReplyEntry

entries_t: Table = ReplyEntry.__table__


def chat_entries(conn: Connection, group: str) -> list[dict]:
    """The group's chat entries, oldest first: ``{"id", "match", "trigger", "answer", "added_by"}``."""
    c = entries_t.c
    rows = conn.execute(select(c.id, c.match, c.trigger, c.answer, c.added_by).where(c.group_key == group).order_by(c.id))
    return [dict(r._mapping) for r in rows]


def all_chat_entries(conn: Connection) -> dict[str, list[dict]]:
    """Every group's chat entries (groups without any left out), oldest first."""
    c = entries_t.c
    found: dict[str, list[dict]] = {}
    for row in conn.execute(select(c.group_key, c.id, c.match, c.trigger, c.answer, c.added_by).order_by(c.id)):
        entry = dict(row._mapping)
        found.setdefault(entry.pop("group_key"), []).append(entry)
    return found


def add_entry(conn: Connection, group: str, match: str, trigger: str, answer: str, by: str, at: datetime,
              limit: int) -> str:
    """Add (or replace the answer of) a chat entry: ``"added"``, ``"replaced"`` or ``"full"`` (``limit`` reached)."""
    c = entries_t.c
    same = (c.group_key == group) & (c.match == match) & (c.trigger == trigger)
    exists = conn.execute(select(c.id).where(same)).first() is not None
    if not exists and conn.execute(select(func.count()).where(c.group_key == group)).scalar_one() >= limit:
        return "full"
    row = {"answer": answer, "added_by": by, "added_at": utc(at)}
    stmt = dialect_insert(conn, entries_t).values(group_key=group, match=match, trigger=trigger, **row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "match", "trigger"], set_=row))
    return "replaced" if exists else "added"


def drop_entry(conn: Connection, group: str, trigger: str) -> int:
    """Delete the group's chat entries with this trigger (exact and contains alike); how many went."""
    c = entries_t.c
    return conn.execute(delete(entries_t).where((c.group_key == group) & (c.trigger == trigger))).rowcount
