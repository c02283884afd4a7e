"""Storage: one ``Store`` over SQLite (the embedded default) or PostgreSQL (several processes).

Repositories are plain functions over a SQLAlchemy ``Connection`` and run inside one transaction through
``Store.run``. On PostgreSQL that goes through the async engine (asyncpg) with ``run_sync``, so the event
loop never waits on the network. On SQLite the transaction runs in the loop thread: a local WAL-mode
commit is much cheaper than handing the work to another thread and back (README, Performance).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import re
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.batch import Batch, GroupCommit, UnitScope
from bot.store.checkpoint import BACKSTOP_PAGES, Checkpointer

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"
T = TypeVar("T")

# Any fixed number will do: it only has to be the same in every Qunbot process.
_MIGRATION_LOCK = 0x51_75_6E_62


def normalise_url(url: str) -> str:
    """Accept the plain URLs operators write; pick the drivers Qunbot uses. Raises ValueError otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL: {url!r} (use sqlite:///FILE or postgresql://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.set(drivername="sqlite"))
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:///FILE or postgresql://…")


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets readers and the writer proceed together; NORMAL sync is durable across a process crash.
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    dbapi_connection.execute("PRAGMA busy_timeout=5000")


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*["\']?([^"\'\s]+)', re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration's revision, read from migrations/versions without importing Alembic (0.3 s
    of start-up); None when the chain is not a single line, and Alembic must decide."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        revisions.add(found.get("revision"))
        parents.add(found.get("down_revision"))
    heads = revisions - parents - {None}
    return heads.pop() if len(heads) == 1 else None


def _at_head(connection: Connection) -> bool:
    head = head_revision()
    if head is None or not connection.dialect.has_table(connection, "alembic_version"):
        return False
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]


def _alembic_upgrade(connection: Connection) -> None:
    if _at_head(connection):
        return  # the usual start: nothing to migrate, and Alembic stays unimported
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


@contextlib.contextmanager
def _file_lock(database: str | None):
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Store:
    """A database connection pool plus the one way to use it: a function run in a transaction."""

    def __init__(self, url: str):
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.sync_engine: Engine | None = None
        self.async_engine: AsyncEngine | None = None
        self._sqlite: Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self.group_commit = GroupCommit(self._commit_sqlite if self.dialect == "sqlite" else self._commit_pg)
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.sync_engine = create_engine(self.url)
            event.listen(self.sync_engine, "connect", _tune_sqlite)
        else:
            self.async_engine = create_async_engine(self.url, pool_size=5, max_overflow=5)

    @classmethod
    async def open(cls, url: str, migrate: bool = True) -> "Store":
        store = cls(url)
        if migrate:
            await store.upgrade()
        return store

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (serialised across processes on PostgreSQL)."""
        if self.sync_engine is not None:
            # Two processes starting on one SQLite file must not both create the tables.
            with _file_lock(make_url(self.url).database), self.sync_engine.begin() as conn:
                _alembic_upgrade(conn)
            return
        async with self.async_engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            await conn.run_sync(_alembic_upgrade)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in a transaction: rolled back if it raises; else committed before
        this returns, except inside a unit (``unit()``), whose batch commits later (bot.store.batch)."""
        gc = self.group_commit
        batch = gc.joined()
        if batch is not None:
            return self._in_sqlite_batch(batch, fn, args) if self.sync_engine is not None else await self._in_pg_batch(batch, fn, args)
        if gc.batch is None:
            if self.sync_engine is not None:
                return self._run_sqlite(fn, args)
            async with self.async_engine.begin() as conn:
                return await conn.run_sync(fn, *args)
        async with self.unit() as unit:  # a batch is open: join it, and return once it is durable
            result = await self.run(fn, *args)
        await unit.durable
        return result

    async def run_apart(self, fn: Callable[..., T], *args: Any) -> T:
        """``run`` in a transaction of its own, never part of a group-commit batch: for work an event waits
        on that must not wait on the batch the event belongs to (taking a group's lease). PostgreSQL only
        needs it: on SQLite one process owns every group."""
        if self.sync_engine is not None:
            return await self.run(fn, *args)
        async with self.async_engine.begin() as conn:
            return await conn.run_sync(fn, *args)

    def unit(self) -> UnitScope:
        """One event's share of the group commit (``async with store.unit() as unit``): its ``run`` calls
        join the open batch and are durable when ``unit.durable`` resolves (``unit.after(fn)`` runs ``fn``
        then)."""
        return UnitScope(self.group_commit)

    def _in_sqlite_batch(self, batch: Batch, fn: Callable[..., T], args: tuple) -> T:
        if self._sqlite is None:
            self._connect_sqlite()
        driver = self._sqlite.connection.driver_connection
        if not batch.began:
            if not driver.in_transaction:
                driver.execute("BEGIN")
            batch.began = True
        driver.execute("SAVEPOINT run")
        try:
            result = fn(self._sqlite, *args)
        except BaseException:
            driver.execute("ROLLBACK TO run")
            driver.execute("RELEASE run")
            raise
        driver.execute("RELEASE run")
        return result

    def _commit_sqlite(self, batch: Batch) -> None:
        error = None
        if batch.began:
            conn = self._sqlite
            driver = conn.connection.driver_connection
            try:
                conn.commit() if conn.in_transaction() else driver.commit()
            except Exception as exc:
                error = exc
                conn.rollback() if conn.in_transaction() else driver.rollback()
            if error is None and self._checkpointer is not None:
                self._checkpointer.committed()
        self.group_commit.settle(batch, error)

    async def _in_pg_batch(self, batch: Batch, fn: Callable[..., T], args: tuple) -> T:
        if batch.lock is None:
            batch.lock = asyncio.Lock()
        async with batch.lock:
            if batch.conn is None:
                batch.conn = await self.async_engine.connect()
                await batch.conn.begin()
                batch.began = True
            async with batch.conn.begin_nested():
                return await batch.conn.run_sync(fn, *args)

    async def _commit_pg(self, batch: Batch) -> None:
        error = None
        if batch.conn is not None:
            async with batch.lock:
                try:
                    await batch.conn.commit()
                except Exception as exc:
                    error = exc
                finally:
                    await batch.conn.close()
        self.group_commit.settle(batch, error)

    def _run_sqlite(self, fn: Callable[..., T], args: tuple) -> T:
        # One connection for the process: transactions run one at a time in the loop thread anyway,
        # and checking a connection out of the pool for each one cost more than a small commit.
        if self._sqlite is None:
            self._connect_sqlite()
        conn = self._sqlite
        # The transaction is sqlite3's own: it begins at the first write, whether SQLAlchemy or the
        # driver (bot.store.sql) runs it, and ends here. SQLAlchemy's begin and commit around it cost
        # as much as the statements, so they are used only when ``fn`` began one through SQLAlchemy.
        driver = conn.connection.driver_connection
        try:
            result = fn(conn, *args)
        except BaseException:
            conn.rollback() if conn.in_transaction() else driver.rollback()
            raise
        conn.commit() if conn.in_transaction() else driver.commit()
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    def _connect_sqlite(self) -> None:
        self._sqlite = self.sync_engine.connect()
        database = make_url(self.url).database
        if database and database != ":memory:":
            self._checkpointer = Checkpointer(database)
            # Only a backstop now (bot.store.checkpoint): the thread keeps the log copied.
            self._sqlite.connection.driver_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    async def close(self) -> None:
        batch = self.group_commit.batch
        if batch is not None:  # what the last events wrote is committed before the connections go
            if not batch.full and not batch.open_units:
                self.group_commit.commit(batch)
            await asyncio.wait([batch.durable])
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self.sync_engine is not None:
            self.sync_engine.dispose()
        if self.async_engine is not None:
            await self.async_engine.dispose()

