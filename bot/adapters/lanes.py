"""What every adapter needs between the wire and the engine: one lane per group, and a bounded memory
of the events already seen.

Lanes: an adapter reads one stream for all groups, but handling an event may wait on the platform (a
role lookup, a room payload). Handled inline, one slow answer for one group would hold every other
group's events behind it. Each group gets its own FIFO lane instead: order within a group is kept,
groups do not wait for each other. A lane's task ends when its queue is empty, so idle groups cost nothing.

Seen: a platform may deliver an event again — after a reconnection, a restarted server, a webhook
whose answer was lost. The adapter remembers the keys of recent events (a bounded LRU) and skips repeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from typing import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Seen:
    """The keys of recent events, oldest forgotten first (``size`` keys at most)."""

    def __init__(self, size: int = 8192):
        self.size = size
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self.repeats = 0  # how many repeats were recognised (for logs and tests)

    def first_time(self, key: Hashable) -> bool:
        """True the first time ``key`` is offered; False (and counted) while it is remembered."""
        if key in self._keys:
            self._keys.move_to_end(key)
            self.repeats += 1
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)


class Lanes:
    """Per-key FIFO execution of jobs; keys run concurrently. A job that raises is logged, never fatal:
    the lane goes on with the next job."""

    def __init__(self, name: str):
        self.name = name
        self._queues: dict[Hashable, deque[Job]] = {}
        self._workers: dict[Hashable, asyncio.Task] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: Hashable, job: Job) -> None:
        """Queue ``job`` (a coroutine function) behind the earlier jobs of ``key``; returns at once."""
        self._queues.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key), name=f"{self.name} {key}")

    @property
    def busy(self) -> int:
        """How many lanes have work queued or running."""
        return len(self._workers)

    async def drain(self) -> None:
        """Wait until every queued job has run."""
        await self._idle.wait()

    async def stop(self, grace: float = 5.0) -> None:
        """When the adapter stops: let queued work finish for up to ``grace`` seconds (its updates are
        already confirmed to the platform, so dropping them would lose them), then cancel the rest."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("%s: %d lanes still busy after %gs; their queued events are dropped", self.name, self.busy, grace)
        await self.close()

    async def close(self) -> None:
        """Cancel every lane (queued jobs are dropped)."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job = queue[0]
                try:
                    await job()
                except Exception:
                    log.exception("%s: a job for %s failed", self.name, key)
                queue.popleft()
                # A turn of the loop between jobs (the QQ connection's worker does the same): what a job set
                # going, its commit and its actions' delivery, runs now, not after the lane's whole queue.
                await asyncio.sleep(0)
        finally:
            self._workers.pop(key, None)
            if not queue:
                self._queues.pop(key, None)
            if not self._workers:
                self._idle.set()
