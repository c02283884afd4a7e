"""Group commit: the writes of the events handled together share one transaction.

The live road handles each event inside a unit (``async with store.unit() as unit``). Every ``store.run``
made inside it joins the open batch's transaction, each in a savepoint (one that raises undoes only itself),
and nothing is committed when it returns. A batch commits when no unit is open any more: at once when a unit
in it has actions waiting on it (``Unit.awaited``: they leave only once it is durable, so holding it back for
later events would only add their time to the actions' latency; events handled at the same time still share
it), otherwise (writes nothing waits for: counters, memory) at the next turn of the event loop, or, under a
steady stream that never leaves it idle, once it holds ``MAX_UNITS`` units or is ``MAX_AGE`` seconds old. A unit's ``after`` callbacks run once the
commit is done (or failed), in the order the units were opened: the transactional outbox hands an event's
actions to delivery there, so nothing leaves before the state it follows from is durable.

A ``store.run`` outside any unit runs and commits at once when no batch is open (start-up, replay, tests),
and otherwise joins the open batch and returns when that is committed. While a batch commits, new units
wait for it (one transaction at a time per process, which keeps what an event reads what the one before
it wrote, on PostgreSQL as on SQLite's single connection).
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from typing import Any, Callable

log = logging.getLogger(__name__)

MAX_UNITS = 64
MAX_AGE = 0.0005  # seconds: the longest a finished event waits for the events behind it

# The unit the running task is handling, if any.
current: ContextVar["Unit | None"] = ContextVar("qunbot_unit", default=None)


class Batch:
    """One transaction shared by the units opened while it was open."""

    __slots__ = ("open_units", "units", "born", "full", "awaited", "durable", "after", "began", "scheduled", "conn", "lock")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.open_units = self.units = 0
        self.born = loop.time()
        self.full = False  # takes no more units (big or old enough, or committing)
        self.awaited = False  # a unit's actions wait for the commit: commit once no unit is open
        self.durable: asyncio.Future = loop.create_future()
        self.after: list[Callable[[bool], None]] = []
        self.began = False  # the database transaction has begun
        self.scheduled = False  # a commit is queued for the next turn of the loop
        self.conn: Any = None  # PostgreSQL: the batch's connection
        self.lock: asyncio.Lock | None = None  # PostgreSQL: one statement at a time on it


class Unit:
    """One event's share of a batch."""

    __slots__ = ("batch", "open", "task")

    def __init__(self, batch: Batch):
        self.batch, self.open = batch, True
        # Only the task handling the event is in the unit: a task it starts inherits the context variable,
        # not the unit (its writes are its own, durable when its ``run`` returns).
        self.task = asyncio.current_task()

    def after(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(committed)`` once the batch's commit is done (True) or failed (False)."""
        self.batch.after.append(fn)

    def awaited(self) -> None:
        """Actions wait for this unit's batch to be durable: commit it as soon as no unit is open."""
        self.batch.awaited = True

    @property
    def durable(self) -> asyncio.Future:
        return self.batch.durable


class GroupCommit:
    """The batch machinery of one ``Store``; ``commit(batch)`` is the store's (synchronous on SQLite, a
    coroutine on PostgreSQL)."""

    def __init__(self, commit: Callable[[Batch], Any]):
        self._commit = commit
        self.batch: Batch | None = None
        self._tasks: set[asyncio.Task] = set()
        self.commits = 0  # batches committed (or failed): how many events shared each is units / commits

    def joined(self) -> Batch | None:
        """The open batch the running task's unit belongs to, if it is in one."""
        unit = current.get()
        if unit is not None and unit.open and unit.batch is self.batch and unit.task is asyncio.current_task():
            return unit.batch
        return None

    async def open(self) -> tuple[Unit, Any]:
        while (batch := self.batch) is not None and batch.full:
            await asyncio.wait([batch.durable])
        loop = asyncio.get_running_loop()
        if batch is None:
            batch = self.batch = Batch(loop)
        batch.open_units += 1
        batch.units += 1
        if batch.units >= MAX_UNITS:
            batch.full = True
        unit = Unit(batch)
        return unit, current.set(unit)

    def close(self, unit: Unit, token) -> None:
        unit.open = False
        current.reset(token)
        batch = unit.batch
        batch.open_units -= 1
        if batch.open_units:
            return
        if batch.full or batch.awaited or asyncio.get_running_loop().time() - batch.born >= MAX_AGE:
            self.commit(batch)
        elif not batch.scheduled:
            batch.scheduled = True
            asyncio.get_running_loop().call_soon(self._if_idle, batch)

    def _if_idle(self, batch: Batch) -> None:
        batch.scheduled = False
        if batch is self.batch and not batch.open_units and not batch.full:
            self.commit(batch)

    def commit(self, batch: Batch) -> None:
        batch.full = True
        result = self._commit(batch)
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def settle(self, batch: Batch, error: BaseException | None) -> None:
        """The commit is over: wake the waiters, then run the units' callbacks in order."""
        if self.batch is batch:
            self.batch = None
        self.commits += 1
        if error is None:
            batch.durable.set_result(True)
        else:
            log.error("a group commit failed; the actions of its %d event(s) are not sent: %r", batch.units, error)
            batch.durable.set_exception(error)
            batch.durable.exception()  # retrieved: the callbacks below say what it means
        for fn in batch.after:
            try:
                fn(error is None)
            except Exception:
                log.exception("a callback after a group commit failed")


class UnitScope:
    """``async with``: a unit opened on entry, closed on exit (a class: a generator-based context manager
    costs more than the rest of a chat message's handling on the hot path)."""

    __slots__ = ("_gc", "_unit", "_token")

    def __init__(self, gc: GroupCommit):
        self._gc = gc

    async def __aenter__(self) -> Unit:
        self._unit, self._token = await self._gc.open()
        return self._unit

    async def __aexit__(self, *_exc) -> None:
        self._gc.close(self._unit, self._token)
