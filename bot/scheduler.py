"""Time: the clocks, and the scheduler that feeds ``ScheduleFired`` events into the bus.

Plugins say *when* with APScheduler triggers (``CronTrigger(hour=8, timezone=tz)`` …), one per job and
group, built from the group's effective rules. Live and replay share one due-list that asks each
trigger for its next fire time; only the waiting differs: live sleeps on the system clock, replay jumps
a virtual clock from event to event. Sharing it is what makes a replay of yesterday's log fire the same
jobs, at the same slots, as the running bot did. Each fired event carries its exact ``slot``, which is
what the exactly-once claim is keyed on: a slot is claimed in the database before it fires, so a
second process due at the same slot (or a replay run again on the same database) does not fire it again.

Delivery guarantee (live). A slot's claim is committed in one transaction with the actions it caused,
written to the transactional outbox (bot.journal), and marked sent then: the outbox delivers them, after
a crash too. Claims made by older versions, which stayed "unsent" until delivered, are still taken over
at start (an atomic update from the old owner, so two processes starting together cannot both take one)
and fired again. Where replicas share the groups (bot.leases), only a group's owner fires
its slots and timers; the process that takes a group over takes the earlier owner's unsent claims of it
and delivers its committed outbox rows (``Engine.on_group_acquired``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger

from bot.model import ScheduleFired, TimerFired
from bot.rules import hour_minute
from bot.store.repos import claim_slot, take_over_claim, unsent_claims
from bot.store.timers import StoredTimer, claim_timer, stored_timers

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger(__name__)

# How often a live process looks for timers that another process sharing the database stored: a timer
# whose process stopped fires at most this late.
TIMER_POLL_SECONDS = 30.0


def at_clock_time(time: str, tz, **fields) -> CronTrigger:
    """The trigger of a job at ``time`` (a validated ``"HH:MM"`` ClockTime) in ``tz``, every day unless
    ``fields`` narrow it (``day_of_week="mon"``)."""
    hour, minute = hour_minute(time)
    return CronTrigger(hour=hour, minute=minute, timezone=tz, **fields)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class VirtualClock:
    """A clock that only moves when told to: replay and tests."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2000, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        # Never backwards: an out-of-order event keeps its own time but does not rewind jobs.
        if at > self._now:
            self._now = at


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    job: str = field(compare=False)
    group: str = field(compare=False)
    trigger: object = field(compare=False)
    version: int = field(compare=False)
    resend_from: str | None = field(default=None, compare=False)  # an unsent claim of that process
    timer: StoredTimer | None = field(default=None, compare=False)  # a plugin's timer (ctx.timer)


class Scheduler:
    """Jobs per (job, group); ``run_due(until)`` fires, in time order, every slot that is due by then."""

    def __init__(self, engine: "Engine"):
        self.engine = engine
        self._heap: list[_Due] = []
        self._versions: dict[tuple[str, str], int] = {}
        self._planned: dict[str, set[str]] = {}  # group -> jobs planned for it
        self._seq = 0
        self._wake = asyncio.Event()
        self.instance = uuid.uuid4().hex  # who claims; a restarted process is a new one
        # (group, plugin, timer, key) -> the due time armed; a queued timer of another due time is stale.
        self._timers: dict[tuple[str, str, str, str], datetime] = {}
        # Live, slots missed while the bot was down (up to a day back) are fired late at start, so that a
        # plugin can still send within its grace period or log the skip; their claims prevent repeats.
        # Replay starts at its first event and looks back at nothing.
        self.lookback = timedelta(0) if isinstance(engine.clock, VirtualClock) else timedelta(days=1)

    def plan_group(self, group: str, catch_up: bool = False) -> None:
        """(Re)compute every plugin job for ``group`` from its current rules, voiding what was planned.
        ``catch_up`` (at start, for groups known before) also queues the slots missed while the bot was down."""
        if not self.engine.serves(group):
            return  # another process, with that platform's adapter, schedules it
        for job in self._planned.pop(group, ()):
            self._versions[(job, group)] = self._versions.get((job, group), 0) + 1
        since = self.engine.clock.now() - (self.lookback if catch_up else timedelta(0))
        # Nothing was due in a group before the bot was there: a group first seen at 10:00 and a restart at
        # 10:30 must not catch up (or report as late) its 08:00 post.
        first_seen = self.engine.first_seen.get(group)
        if first_seen is not None and first_seen > since:
            since = first_seen
        tz = self.engine.tz_for(group)
        planned = self._planned[group] = set()
        for plugin in self.engine.bus.plugins:
            rules = self.engine.rules_for(plugin, group)
            if plugin.jobs is None or rules is None:
                continue
            for name, trigger in self._jobs(plugin, rules, tz).items():
                job = f"{plugin.name}.{name}"
                planned.add(job)
                self._push(job, group, trigger, since, previous=None)
        self._wake.set()

    @staticmethod
    def _jobs(plugin, rules, tz) -> dict:
        """``plugin.jobs(rules, tz)``, kept on the rules object per zone and shared by every group with the
        same rules and zone: triggers are immutable, and a CronTrigger each per job and group is ~10 kB."""
        return rules.derived(("jobs", tz), lambda: plugin.jobs(rules, tz))

    def _push(self, job: str, group: str, trigger, now: datetime, previous: datetime | None) -> None:
        version = self._versions.setdefault((job, group), 0)
        at = trigger.get_next_fire_time(previous, now)
        if at is None:
            return
        self._seq += 1
        heapq.heappush(self._heap, _Due(at, self._seq, job, group, trigger, version))

    async def resume_unsent(self, groups: set[str] | None = None) -> int:
        """Queue, to fire again now, the slots claimed before this process started (or took ``groups``
        over) but never delivered (a process killed between claim and delivery); returns how many. Live
        only: replay marks its claims delivered as it writes them."""
        if not self.lookback:
            return 0
        now = self.engine.clock.now()
        found = 0
        for job, group, slot, owner in await self.engine.store.run(unsent_claims, now - self.lookback):
            if owner == self.instance or not self.engine.serves(group) or (groups is not None and group not in groups):
                continue
            self._seq += 1
            version = self._versions.get((job, group), 0)
            heapq.heappush(self._heap, _Due(slot, self._seq, job, group, None, version, resend_from=owner))
            found += 1
        if found:
            log.warning("%d scheduled slot(s) were claimed but not delivered before a restart; sending them now", found)
            self._wake.set()
        return found

    def next_due(self) -> datetime | None:
        while self._heap and self._stale(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0].at if self._heap else None

    def _stale(self, due: _Due) -> bool:
        # A re-plan voids what was queued before it; a take-over of an unsent claim is never voided; a timer
        # set again or cancelled voids its earlier due time.
        if due.timer is not None:
            return self._timers.get(due.timer[:4]) != due.at
        return due.resend_from is None and due.version != self._versions.get((due.job, due.group))

    # ------------------------------------------------------------------ plugins' timers

    def arm(self, timer: StoredTimer) -> None:
        """Queue a stored timer (replacing the same timer's earlier due time)."""
        if not self.engine.serves(timer.group):
            return
        self._timers[timer[:4]] = timer.due
        self._seq += 1
        heapq.heappush(self._heap, _Due(timer.due, self._seq, f"{timer.plugin}.{timer.name}", timer.group, None, 0, timer=timer))
        self._wake.set()

    def disarm(self, group: str, plugin: str, name: str, key: str) -> None:
        self._timers.pop((group, plugin, name, key), None)

    async def arm_stored(self, until: datetime | None = None, groups: set[str] | None = None) -> None:
        """Arm the stored timers (due by ``until``; of ``groups`` if given) this process does not hold yet:
        every timer at start; in live mode, now and then, those another process set (it may have stopped
        before firing them); on a take-over, those of the groups taken."""
        for timer in await self.engine.store.run(stored_timers, until):
            if (groups is None or timer.group in groups) and self._timers.get(timer[:4]) != timer.due:
                self.arm(timer)

    async def _claim(self, due: _Due, now: datetime) -> bool:
        store = self.engine.store
        if due.timer is not None:
            self._timers.pop(due.timer[:4], None)
            return await store.run(claim_timer, due.timer)
        if due.resend_from is not None:
            return await store.run(take_over_claim, due.job, due.group, due.at, due.resend_from, self.instance, now)
        # Replay writes what a slot caused before anything else happens; live, the claim is committed with
        # the slot's actions in the transactional outbox (Engine.fire), which delivers them from there.
        return await store.run(claim_slot, due.job, due.group, due.at, now, self.instance, now)

    async def run_due(self, until: datetime) -> list:
        """Fire every slot and timer due at or before ``until``, each through the bus like any other event;
        returns the effects they caused, in order (after handing them to ``engine.deliver``)."""
        fired: list = []
        while (at := self.next_due()) is not None and at <= until:
            due = heapq.heappop(self._heap)
            clock = self.engine.clock
            if isinstance(clock, VirtualClock):
                clock.set(due.at)
            if due.trigger is not None:  # a recurring job: queue its next slot; a timer fires once
                self._push(due.job, due.group, due.trigger, due.at + timedelta(microseconds=1), previous=due.at)
            if not self.engine.leases.may_fire(due.group):
                # Another process owns the group and fires it; on a take-over this one plans the group again
                # with what was missed and arms its stored timers (Engine.on_group_acquired).
                if due.timer is not None:
                    self._timers.pop(due.timer[:4], None)
                continue
            platform, _, group_id = due.group.partition(":")
            if due.timer is not None:
                t = due.timer
                # In the group's timezone, as a set timer's due time was given: one read back from the
                # database after a restart comes in UTC, and the event's time is what replay prints.
                tz = self.engine.tz_for(due.group)
                event = TimerFired(at=due.at.astimezone(tz), platform=platform, group=group_id, plugin=t.plugin, timer=t.name,
                                   key=t.key, due=t.due.astimezone(tz), payload=t.payload)
            else:
                event = ScheduleFired(at=due.at, platform=platform, group=group_id, job=due.job, slot=due.at)
            claimed, actions, _ = await self.engine.fire(lambda d=due, now=clock.now(): self._claim(d, now), event)
            if not claimed:
                log.info("%s for %s at %s was claimed already; not fired again", due.job, due.group, due.at)
                continue
            fired += actions
        return fired

    async def run_forever(self, timer_poll_seconds: float = TIMER_POLL_SECONDS) -> None:
        """Live mode: sleep until the next slot (or a re-plan) and fire what is due; every
        ``timer_poll_seconds`` also arm the timers other processes stored."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + timer_poll_seconds
        while True:
            self._wake.clear()
            at = self.next_due()
            delay = 3600.0 if at is None else max(0.0, (at - self.engine.clock.now()).total_seconds())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, min(delay, next_poll - loop.time())))
                continue
            except asyncio.TimeoutError:
                pass
            try:
                if loop.time() >= next_poll:
                    next_poll = loop.time() + timer_poll_seconds
                    await self.arm_stored(self.engine.clock.now() + timedelta(seconds=timer_poll_seconds))
                await self.run_due(self.engine.clock.now())
            except Exception:
                log.exception("scheduled job failed")
