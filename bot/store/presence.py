"""Members' presence as the bot saw it: the last join and leave, and a role above member once seen.

Several plugins need it (lottery: joined before; invites: still there; inactive: join day, owners and
admins), and each records the joins and leaves it sees with ``note_join`` / ``note_left``: the writes are
idempotent, so two plugins recording one join leave one row as one would.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, select

from bot.store.repos import dialect_insert, utc
from bot.store.tables import MemberPresence

presence_t: Table = MemberPresence.__table__


def note_join(conn: Connection, group: str, user: str, name: str, at: datetime) -> None:
    row = {"joined_at": utc(at), "left_at": None, **({"name": name} if name else {})}
    stmt = dialect_insert(conn, presence_t).values(group_key=group, user_id=user, name=name or "", joined_at=utc(at), role="member")
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_=row))


def note_left(conn: Connection, group: str, user: str, name: str, at: datetime) -> None:
    stmt = dialect_insert(conn, presence_t).values(group_key=group, user_id=user, name=name or "", left_at=utc(at), role="member")
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_={"left_at": utc(at)}))


def note_role(conn: Connection, group: str, user: str, name: str, role: str) -> None:
    """Remember that ``user`` spoke as ``role`` here (owners and admins are never sleeping members)."""
    stmt = dialect_insert(conn, presence_t).values(group_key=group, user_id=user, name=name or "", role=role)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id"], set_={"role": role}))


def presence(conn: Connection, group: str, user: str) -> dict | None:
    c = presence_t.c
    row = conn.execute(select(presence_t).where((c.group_key == group) & (c.user_id == user))).first()
    return dict(row._mapping) if row else None


def group_presence(conn: Connection, group: str) -> dict[str, dict]:
    """Every member of the group the bot saw join, leave or speak as an admin: user -> row."""
    rows = conn.execute(select(presence_t).where(presence_t.c.group_key == group))
    return {r.user_id: dict(r._mapping) for r in rows}


def still_here(row: dict | None) -> bool:
    """Whether a presence row says the member is in the group (no leave after the last join)."""
    if row is None or row["left_at"] is None:
        return True
    return row["joined_at"] is not None and row["joined_at"] > row["left_at"]
