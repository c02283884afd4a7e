"""Broadcasts (群发): a draft per command, confirmed once however many processes see the confirmation."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, Table, insert, select, update

from bot.store.repos import utc
from bot.store.tables import Broadcast

broadcasts_t: Table = Broadcast.__table__


def _row(row) -> dict:
    found = dict(row._mapping)
    found["targets"], found["refused"] = json.loads(found["targets"]), json.loads(found["refused"])
    return found


def draft(conn: Connection, origin: str, set_name: str, text: str, by: str, at: datetime, targets: list[str],
          refused: dict[str, str]) -> int:
    """A new draft; an earlier draft of the same member in the same group is dropped (one at a time)."""
    conn.execute(update(broadcasts_t).where((broadcasts_t.c.origin_group == origin) & (broadcasts_t.c.by_user == by)
                                            & (broadcasts_t.c.status == "draft")).values(status="cancelled"))
    return conn.execute(insert(broadcasts_t).values(
        origin_group=origin, set_name=set_name, text=text, by_user=by, created_at=utc(at), status="draft",
        targets=json.dumps(targets, ensure_ascii=False), refused=json.dumps(refused, ensure_ascii=False))).inserted_primary_key[0]


def latest_draft(conn: Connection, origin: str, by: str, since: datetime) -> dict | None:
    row = conn.execute(select(broadcasts_t).where(
        (broadcasts_t.c.origin_group == origin) & (broadcasts_t.c.by_user == by) & (broadcasts_t.c.status == "draft")
        & (broadcasts_t.c.created_at >= utc(since))).order_by(broadcasts_t.c.id.desc()).limit(1)).first()
    return _row(row) if row else None


def settle_draft(conn: Connection, broadcast: int, status: str) -> bool:
    """Turn a draft into ``status`` (sent, cancelled); False when it is no draft any more: another
    process sharing the database took it first, so this one sends nothing."""
    return conn.execute(update(broadcasts_t).where((broadcasts_t.c.id == broadcast) & (broadcasts_t.c.status == "draft"))
                        .values(status=status)).rowcount == 1


def get_broadcast(conn: Connection, broadcast: int) -> dict | None:
    row = conn.execute(select(broadcasts_t).where(broadcasts_t.c.id == broadcast)).first()
    return _row(row) if row else None


def recent_broadcasts(conn: Connection, origins: list[str], limit: int) -> list[dict]:
    """The latest broadcasts sent from ``origins``, newest first."""
    rows = conn.execute(select(broadcasts_t).where(broadcasts_t.c.origin_group.in_(origins) & (broadcasts_t.c.status == "sent"))
                        .order_by(broadcasts_t.c.id.desc()).limit(limit))
    return [_row(row) for row in rows]
