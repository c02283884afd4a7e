"""Hot statements as SQL text, run on the database driver's own connection where that pays.

SQLAlchemy's per-statement machinery (execution context, compiled-cache look-up, result proxy) costs many
times what sqlite3 itself takes for these small statements; a check-in runs five of them and an offence
two. A ``Sql`` is written once, in the SQL that SQLite and PostgreSQL share (``:named``
parameters, ``ON CONFLICT``, ``RETURNING``), and runs
- on SQLite straight on the sqlite3 connection, inside the transaction ``Store.run`` holds on it, with
  dates and times written as the text SQLAlchemy stores for them, so that both paths read each other's
  rows alike (results come back as SQLite has them: ``as_date`` and ``as_datetime`` read them as
  the tables' column types do);
- on PostgreSQL through SQLAlchemy, where the network round trip dwarfs the overhead.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, text


def _stored(value: date) -> str:
    """What SQLAlchemy's SQLite DATE and DATETIME types store (a datetime's zone is dropped, as there)."""
    if isinstance(value, datetime):
        v = value
        return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    return value.isoformat()


# Types a parameter mostly has, which are never dates: their values skip the isinstance test.
_NOT_DATES = frozenset({str, int, float, bool, bytes, type(None)})


def _for_sqlite(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with dates and times as SQLAlchemy stores them. Copied only when one is there (most
    statements have none); the caller's dict is not changed."""
    out = None
    for key, value in params.items():
        if type(value) not in _NOT_DATES and isinstance(value, date):
            if out is None:
                out = dict(params)
            out[key] = _stored(value)
    if out is None:
        return params if type(params) is dict else dict(params)  # sqlite3 takes only a dict for names
    return out


class Sql:
    """One statement: ``rows`` for one that returns rows (a SELECT, a RETURNING), ``run`` for one
    that does not (it gives the number of rows changed), ``run_many`` for a batch."""

    __slots__ = ("sql", "_clause")

    def __init__(self, sql: str):
        self.sql = sql
        self._clause = text(sql)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple]:
        if conn.dialect.name == "sqlite":
            return conn.connection.driver_connection.execute(self.sql, _for_sqlite(params)).fetchall()
        return [tuple(row) for row in conn.execute(self._clause, params)]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        if conn.dialect.name == "sqlite":
            return conn.connection.driver_connection.execute(self.sql, _for_sqlite(params)).rowcount
        return conn.execute(self._clause, params).rowcount

    def run_many(self, conn: Connection, batch: Iterable[Mapping[str, Any]]) -> None:
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.executemany(self.sql, map(_for_sqlite, batch))
        else:
            conn.execute(self._clause, list(batch))


def as_date(value: date | str | None) -> date | None:
    """A DATE column's value as a date (SQLite hands back the stored text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def as_datetime(value: datetime | str | None) -> datetime | None:
    """A DATETIME column's value as ``UtcDateTime`` reads it: aware, in UTC (SQLite hands back the stored
    text, written in UTC without its zone)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
