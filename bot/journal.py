"""The transactional outbox, live: the platform actions an event causes are written to the ``outbox`` table
in the transaction of the state they follow from (the event's unit of the group commit), handed to the
outbox only once that transaction is durable, and delivered from the table after a crash.

A row waits (0), is being carried out (1: marked durably just before its action goes out) or is done (2,
delivered or given up on and reported). ``resume`` is what a process does for a group it starts to deliver
(at start, and when it takes a group over from another process): every row not done is handed to the
outbox again, in the order written. A message marked "sending" may be in the group already: the outbox
first asks the platform (``Adapter.has_sent``: the group's latest messages) and sends it only where the
platform says it does not have it. Where the platform cannot say, a second copy is worse than a lost one
the operators are told about (the outbox's ``MaybeDelivered`` rule, across a crash), unless it is a
scheduled slot's: a post is sent again rather than lost, as the scheduler always promised. An action that
ends in a state (approve, mute, kick …) is simply taken again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Callable

from bot.model import ACTION_TYPES, Action, SendMessage
from bot.outbox import Outbox
from bot.store import Store
from bot.store.journal import DONE, SENDING, add_rows, groups_with_open_rows, mark, open_rows, prune

log = logging.getLogger(__name__)



def dump(action: Action) -> str:
    """The action as JSON, its kind first (``load`` reads it back)."""
    return f'{{"kind":"{action.name}",{action.model_dump_json(exclude_defaults=True)[1:]}'


def load(text: str) -> Action:
    data = json.loads(text)
    return ACTION_TYPES[data.pop("kind")].model_validate(data)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    def __init__(self, store: Store, outbox: Outbox, report: Callable[[str], None]):
        self.store, self.outbox, self.report = store, outbox, report
        self.instance = uuid.uuid4().hex[:12]  # rows written by this process are named after it
        self._events = itertools.count(1)
        self._done: list[str] = []
        self._flush: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task] = set()
        self.in_flight: set[str] = set()  # rows handed to this process's outbox and not marked done yet
        self.again: set[str] = set()  # rows sent again when in doubt: their done mark is written at once
        # Messages found "sending" after a restart: the outbox asks the platform whether it has them before
        # it sends them again (Outbox._in_doubt).
        self.doubtful: set[str] = set()

    async def write(self, actions: list[Action], again: bool = False) -> list[str]:
        """Write one event's platform actions, inside its unit; returns their rows' ids. ``again``: a crash
        that leaves one of its messages "sending" sends it again (a scheduled slot's)."""
        event = f"{self.instance}.{next(self._events)}"
        created = _now()
        rows = [{"id": f"{event}.{i}", "group_key": a.group_key, "event": event, "seq": i, "plugin": a.plugin or "",
                 "action": dump(a), "again": again, "created": created} for i, a in enumerate(actions)]
        await self.store.run(add_rows, rows)
        if again:
            self.again.update(r["id"] for r in rows)
        return [r["id"] for r in rows]

    def submit(self, actions: list[Action], ids: list[str]) -> asyncio.Future:
        self.in_flight.update(ids)
        return self.outbox.submit(actions, ids)

    async def sending(self, row: str) -> None:
        """Mark ``row`` as being carried out, durably (with the "done" marks waiting to be written)."""
        done, self._done = self._done, []
        now = _now()

        def write(conn):
            if done:
                mark(conn, done, DONE, now)
            mark(conn, [row], SENDING, now)

        try:
            await self.store.run(write)
        finally:
            self.in_flight.difference_update(done)

    async def finished(self, row: str) -> None:
        """The outbox is done with ``row``. A post's mark is written before the group's next action (a
        second copy of a post is the price of a late mark); the others' at the next turn of the loop."""
        if row in self.again:
            self.again.discard(row)
            await self._mark_done([row])
        else:
            self.done(row)

    def done(self, row: str) -> None:
        self._done.append(row)
        # Written at the next turn of the loop, with the other marks of this one (and into the open batch
        # of the group commit, if any). A done mark lost in a crash leaves the row "sending": a scheduled
        # post would be sent again, another message would not.
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._flush_done)

    def _flush_done(self) -> None:
        self._flush = None
        if self._done:
            task = asyncio.ensure_future(self.flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        done, self._done = self._done, []
        if done:
            await self._mark_done(done)

    async def _mark_done(self, rows: list[str]) -> None:
        try:
            await self.store.run(mark, rows, DONE, _now())
        except Exception:
            log.exception("could not mark %d outbox rows done; a restart treats them as possibly sent", len(rows))
        finally:
            self.in_flight.difference_update(rows)  # only now may a resume of the group skip them no longer

    async def resume(self, group: str) -> int:
        """Hand the outbox what ``group``'s rows hold and is not done (see the module's docstring); returns
        how many actions were handed over. Rows this process is delivering already are left to it."""
        rows = [r for r in await self.store.run(open_rows, group) if r[0] not in self.in_flight]
        events: dict[str, list[tuple[str, Action]]] = {}
        unreadable: list[str] = []
        in_doubt = 0
        for row, event, text, state, again in rows:
            try:
                action = load(text)
            except (ValueError, KeyError) as exc:
                self.report(f"an outbox row of {group} cannot be read, not delivered: {exc}")
                unreadable.append(row)
                continue
            events.setdefault(event, []).append((row, action))
            if again:
                self.again.add(row)
            if state == SENDING and isinstance(action, SendMessage):
                self.doubtful.add(row)  # the outbox asks the platform first (Outbox._in_doubt)
                in_doubt += 1
        if unreadable:
            await self.store.run(mark, unreadable, DONE, _now())
        for items in events.values():
            self.submit([a for _, a in items], [r for r, _ in items])
        count = sum(len(items) for items in events.values())
        if count:
            log.warning("%s: %d action(s) committed before a restart or take-over and not delivered; delivering them now "
                        "(%d left 'sending' only where the platform does not have them)", group, count, in_doubt)
        return count

    async def groups_to_resume(self) -> list[str]:
        """The groups with rows not done (and rows done more than a day ago forgotten)."""
        await self.store.run(prune, _now())
        return await self.store.run(groups_with_open_rows)
