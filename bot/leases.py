"""One voice per group: which process answers a group when several are connected to the same accounts.

Each group has one owner process at a time, by a lease row in PostgreSQL (bot.store.leases) that lasts
while its owner's heartbeat does: the owner renews that one row every ``every`` seconds for ``ttl``
seconds, however many groups it holds; the others stay silent for that group (their bus
runs only the plugins' shadow handlers, which keep in-process memory warm) and take the group over when
the heartbeat expires (the owner died) or is released (the owner stopped). Taking over calls the engine's
``on_group_acquired``.

What must stay true: an owner stops answering *before* any other process can take its lease. Its local
deadline is counted from the moment it sent the renewal (``started + ttl - margin``), the database's
expiry from the moment the database ran it (``now() + ttl``), which is later. So two processes never
both believe they own a group, whatever their clocks say; a process that cannot reach the database falls
silent when its deadline passes.

``OneOwner`` is the single-process answer (SQLite, replay, tests): every group is ours.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from time import monotonic
from typing import Awaitable, Callable, Iterable

from bot.store.leases import end_owner, must_retry, release_leases, take_leases

log = logging.getLogger(__name__)

LEASE_SECONDS = 5.0  # how long a lease lasts unrenewed: a dead owner's groups are taken over within this …
RENEW_SECONDS = 1.0  # … plus one renewal period
MARGIN_SECONDS = 0.5  # the owner falls silent this long before its lease can be taken


class OneOwner:
    """Every group is this process's own (one process: SQLite, replay, tests)."""

    instance = "one"

    def owns(self, key: str) -> bool:
        return True

    def may_fire(self, key: str) -> bool:
        return True

    async def claim(self, key: str) -> bool:
        return True

    def want(self, keys: Iterable[str]) -> None:
        pass

    async def close(self) -> None:
        pass


class Leases:
    """The keys (groups, or accounts) this process owns or wants, renewed and taken in the background.
    ``prefix`` names the kind in the lease table (``group:`` …); callers use the bare keys."""

    def __init__(self, store, prefix: str = "group:", ttl: float = LEASE_SECONDS, every: float = RENEW_SECONDS,
                 margin: float = MARGIN_SECONDS, instance: str | None = None,
                 on_acquired: Callable[..., Awaitable[None]] | None = None):
        if not ttl > every + margin:
            raise ValueError(f"a lease of {ttl} s cannot be renewed every {every} s with {margin} s to spare")
        self.store, self.prefix = store, prefix
        self.ttl, self.every, self.margin = ttl, every, margin
        self.instance = instance or uuid.uuid4().hex
        self.on_acquired = on_acquired  # awaited with the keys just taken (``*keys``)
        self._held: dict[str, float] = {}  # key -> local deadline (monotonic)
        self._wanted: set[str] = set()  # every key seen: owned, or watched until its owner lets go
        self._lock = asyncio.Lock()
        self._acquiring: set[asyncio.Task] = set()  # take-overs started by claim, running on their own

    def owns(self, key: str) -> bool | None:
        """True while this process owns ``key``; False when another does (or ours lapsed); None for a key
        never seen (``claim`` it)."""
        deadline = self._held.get(key)
        if deadline is not None:
            return deadline > monotonic()
        return False if key in self._wanted else None

    def may_fire(self, key: str) -> bool:
        """Whether a scheduled job of ``key`` fires here: only on its owner. A key not seen before is
        wanted from now on (taken at the next renewal if free)."""
        owned = self.owns(key)
        if owned is None:
            self._wanted.add(key)
        return owned is True

    def want(self, keys: Iterable[str]) -> None:
        """Take these keys at the next renewal where they are free (at start: the groups known before)."""
        self._wanted.update(keys)

    async def claim(self, key: str) -> bool:
        """A key seen for the first time: take it now if free; whether this process owns it. (Called while an
        event is handled, inside its group-commit unit: what taking the group over brings runs in a task of
        its own, which that unit does not wait for.)"""
        self._wanted.add(key)
        await self.tick([key], later=True)
        return self.owns(key) is True

    @property
    def held(self) -> list[str]:
        now = monotonic()
        return sorted(k for k, deadline in self._held.items() if deadline > now)

    async def tick(self, keys: Iterable[str] | None = None, later: bool = False) -> list[str]:
        """Renew this process's heartbeat (and with it every lease it holds) and take what is free among
        ``keys`` (default: every wanted key it does not hold); calls ``on_acquired`` with the keys newly
        taken and returns them."""
        async with self._lock:
            held = sorted(self._held)
            wanted = sorted(set(self._wanted if keys is None else keys) - set(held))
            started = monotonic()
            got = await self._take([self.prefix + k for k in held], [self.prefix + k for k in wanted])
            if got is None:
                return []
            deadline = started + self.ttl - self.margin
            cut = len(self.prefix)
            got = {k[cut:] for k in got}
            taken = []
            for key in held + wanted:
                before = self._held.get(key)
                if key in got:
                    self._held[key] = deadline
                    if before is None or before <= started:  # new, or lapsed here: nothing was done for it since
                        taken.append(key)
                elif before is not None:
                    del self._held[key]
                    log.warning("lease %s%s passed to another process", self.prefix, key)
        if taken and self.on_acquired is not None:
            if later:
                task = asyncio.get_running_loop().create_task(self.on_acquired(*taken))
                self._acquiring.add(task)  # held until done: an unreferenced task may be collected mid-run
                task.add_done_callback(self._acquiring.discard)
            else:
                await self.on_acquired(*taken)
        return taken

    async def _take(self, held: list[str], wanted: list[str]) -> set[str] | None:
        """``take_leases``, tried again when it lost a race to another process; None when it failed."""
        for attempt in range(5):
            try:
                return await self.store.run_apart(take_leases, self.instance, held, wanted, self.ttl)
            except Exception as exc:
                if must_retry(exc) and attempt < 4:
                    continue  # another process took or renewed a row meanwhile: look again
                # The database is away: what we hold lapses by itself at its deadline.
                log.exception("could not renew the leases; this process falls silent for its groups if it goes on")
                return None
        return None

    async def run_forever(self) -> None:
        """Renew and take leases every ``every`` seconds."""
        while True:
            try:
                await self.tick()
            except Exception:  # a failed take-over hook must not stop the renewals
                log.exception("taking over %s leases failed", self.prefix)
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        """Give up what is held (a clean stop): the others take it at their next renewal, not at expiry."""
        keys, self._held = list(self._held), {}

        def release(conn):
            release_leases(conn, self.instance, [self.prefix + k for k in keys])
            end_owner(conn, self.instance)

        try:
            await self.store.run(release)
        except Exception:
            log.exception("could not release the leases; the others take them when they expire")
