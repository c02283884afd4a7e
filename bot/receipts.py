"""Delivery receipts: what became of the messages a plugin asked to hear about (``SendMessage.receipt``).

A plugin that must tell someone what really reached other groups — a broadcast's delivery report, a
relay's per-target figures — gives its messages a receipt key. The outbox notes each one's outcome here
(delivered, or what went wrong); the notes are written in batches, like statistics, and a plugin reads
them with ``receipts_of`` after ``await ctx.services.receipts.flush()``. Replay takes every possible
message to be delivered, and notes it so.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, Table, select

from bot.model import SendMessage
from bot.store.repos import dialect_insert, utc
from bot.store.tables import DeliveryReceipt

log = logging.getLogger(__name__)
receipts_t: Table = DeliveryReceipt.__table__


class Receipts:
    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self._noted: list[dict] = []

    def note(self, message: SendMessage, problem: str | None) -> None:
        """The outcome of ``message`` (None: delivered); kept until the next ``flush``. What went wrong is kept
        in the words an owner reads (``Problem.owner``) where the outbox gave them."""
        if message.receipt:
            problem = getattr(problem, "owner", problem)
            self._noted.append({"receipt": message.receipt, "group_key": message.group_key, "ok": problem is None,
                                "problem": (problem or "")[:500], "at": utc(self.clock.now())})

    async def flush(self) -> None:
        noted, self._noted = self._noted, []
        if noted:
            try:
                await self.store.run(_write, noted)
            except Exception:
                self._noted[:0] = noted  # kept for the next try
                raise


def _write(conn: Connection, rows: list[dict]) -> None:
    for row in rows:  # the latest outcome of a group's message stands (a retry after a failure, say)
        stmt = dialect_insert(conn, receipts_t).values(**row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["receipt", "group_key"],
                                                set_={k: row[k] for k in ("ok", "problem", "at")}))


def receipts_of(conn: Connection, receipt: str) -> dict[str, tuple[bool, str, datetime]]:
    """group key -> (delivered, the problem if not, when) for every message noted under ``receipt``."""
    rows = conn.execute(select(receipts_t).where(receipts_t.c.receipt == receipt))
    return {r.group_key: (r.ok, r.problem, r.at) for r in rows}
