"""The transactional outbox's rows (table ``outbox``): written in the transaction of the state they follow
from, marked while delivery goes on, read back by the process that delivers a group after a restart or a
take-over (bot.journal)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import Connection

from bot.store.sql import Sql

WAITING, SENDING, DONE = 0, 1, 2

_ADD = Sql("INSERT INTO outbox (id, group_key, event, seq, plugin, action, state, again, created) "
           "VALUES (:id, :group_key, :event, :seq, :plugin, :action, 0, :again, :created)")
_MARK = Sql("UPDATE outbox SET state = :state, confirmed = :at WHERE id = :id AND state < :state")
_OPEN = Sql("SELECT id, event, action, state, again FROM outbox WHERE group_key = :group_key AND state < 2 "
            "ORDER BY created, event, seq")
_OPEN_GROUPS = Sql("SELECT DISTINCT group_key FROM outbox WHERE state < 2")
_PRUNE = Sql("DELETE FROM outbox WHERE state = 2 AND confirmed < :before")


def add_rows(conn: Connection, rows: list[dict]) -> None:
    """Rows of ``{id, group_key, event, seq, plugin, action (JSON), again, created}``, waiting to be delivered."""
    _ADD.run_many(conn, rows)


def mark(conn: Connection, ids: Iterable[str], state: int, at: datetime) -> None:
    """Move rows forward to ``state`` (never back: a late "sending" does not reopen a row that is done)."""
    _MARK.run_many(conn, [{"id": i, "state": state, "at": at} for i in ids])


def open_rows(conn: Connection, group: str) -> list[tuple[str, str, str, int, bool]]:
    """``(id, event, action JSON, state, again)`` of a group's rows not done, in the order they were written."""
    return _OPEN.rows(conn, {"group_key": group})


def groups_with_open_rows(conn: Connection) -> list[str]:
    return [g for (g,) in _OPEN_GROUPS.rows(conn, {})]


def prune(conn: Connection, now: datetime, keep: timedelta = timedelta(days=1)) -> int:
    """Forget rows done more than ``keep`` ago."""
    return _PRUNE.run(conn, {"before": now - keep})

