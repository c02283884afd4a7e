"""The outbox: actions delivered in order per group, with capability fallbacks, pacing and retries.

``plan`` is pure (replay uses it too): an action the platform cannot take becomes the fallback of
DESIGN.md, usually a templated message. ``Outbox`` is the live part: one queue per group keeps order, a
per-group window and a per-platform interval keep within the platform's limits by waiting (never by
dropping), flood errors wait the time the platform asks, other retryable errors back off. A message whose answer
was lost after it reached the platform (``MaybeDelivered``) is not sent again. Whatever cannot be
delivered is logged, and reported to the admin log, with the reason.

Honest messages: an announcement (``SendMessage.after_done``, and a mute-all's ``announce``) goes out only
when every platform action before it, of the same submit and group, was carried out. Where one was
impossible (a fallback took its place) or failed, the announcement is dropped and one report tells the
admin log what happened and what the group was not told.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bot.adapters.base import ATTACHMENTS, Adapter, FloodError, MaybeDelivered, PlatformError
from bot.media import Media, MediaProblem
from bot.model import ENGINE_EFFECTS, Action, DecideJoin, DeleteMessage, KickMember, MuteAll, MuteMember, Report, SendMessage, SetCard
from bot.templates import Templates

if TYPE_CHECKING:
    from bot.config import OutboxLimits

log = logging.getLogger(__name__)

# The per-group limit is "N sends per minute" on every platform we know.
GROUP_WINDOW_SECONDS = 60.0
# A platform that keeps answering "slow down" this often is not going to take the action.
MAX_FLOOD_WAITS = 20


def plan(action: Action, capabilities: frozenset[str], templates: Templates, owner: str | None = None) -> list[Action]:
    """What to deliver for ``action`` on a platform with ``capabilities``: itself, a fallback, or nothing.
    ``owner``, where the adapter knows the group's owner, is mentioned in a removal's fallback, so the
    person who can remove the member hears of it."""
    if action.name in capabilities:
        if isinstance(action, MuteAll) and (action.announce is not None or action.fallback is not None):
            told = action.announce
            action = action.model_copy(update={"announce": None, "fallback": None})
            if told is not None:
                return [action, SendMessage(platform=action.platform, group=action.group, text=told, plugin=action.plugin,
                                            reason=action.reason, after_done=True)]
        return [action]
    text: str | None = None
    mentions: tuple[str, ...] = ()
    if isinstance(action, MuteMember) and action.seconds > 0:
        text, mentions = templates.render("core/fallback_mute", minutes=max(1, action.seconds // 60)), (action.user,)
    elif isinstance(action, MuteAll):
        text = action.fallback or templates.render("core/fallback_mute_all", on=action.on)
    elif isinstance(action, KickMember):
        text = templates.render("core/fallback_kick")
        mentions = (action.user, owner) if owner and owner != action.user else (action.user,)
    elif isinstance(action, SetCard):
        text, mentions = templates.render("core/fallback_set_card", card=action.card), (action.user,)
    if text is None:
        # Lifting a mute that was only a warning, deleting another member's message on WeChat, deciding
        # a join request where there are none: nothing the platform can do, and nothing to say.
        log.info("%s: %s has no fallback on %s; skipped (%s/%s)", action.group_key, action.name, action.platform, action.plugin, action.reason)
        return []
    return [SendMessage(platform=action.platform, group=action.group, text=text, mentions=mentions, plugin=action.plugin, reason=action.reason)]


def describe(action: Action) -> str:
    """A one-line description for logs and the admin log."""
    detail = {
        SendMessage: lambda a: repr(a.text[:60]),
        DeleteMessage: lambda a: f"message {a.message}",
        MuteMember: lambda a: f"user {a.user} for {a.seconds}s",
        MuteAll: lambda a: "on" if a.on else "off",
        KickMember: lambda a: f"user {a.user}",
        SetCard: lambda a: f"user {a.user} card {a.card!r}",
        DecideJoin: lambda a: f"request {a.request} {'approve' if a.approve else 'decline'}",
    }.get(type(action), lambda a: "")(action)
    return f"{action.name} in {action.group_key} ({detail}) by {action.plugin or '?'}/{action.reason or '?'}"


class Problem(str):
    """Why an action was not carried out: the English line for the log and the admin log, and ``owner``, the
    same in the Chinese an owner reads in a delivery report (bot/receipts.py)."""

    owner: str

    def __new__(cls, text: str, owner: str) -> "Problem":
        problem = super().__new__(cls, text)
        problem.owner = owner
        return problem


def is_possible(action: Action, planned: list[Action]) -> bool:
    """Whether ``plan`` kept ``action`` itself (a message always counts): False when a fallback, or nothing,
    took its place."""
    return isinstance(action, SendMessage) or any(type(item) is type(action) for item in planned)


def impossible_here(action: Action) -> str:
    return f"{describe(action)}: not possible on {action.platform} in this group"


def not_told(announcement: SendMessage, problems: list[str]) -> str:
    """The admin log's line for an announcement the group did not get, and why."""
    return f"the group was not told {announcement.text[:80]!r}, since " + "; ".join(problems)


def plan_batch(effects: list[Action], capabilities: Callable[[Action], frozenset[str]], templates: Templates) -> list[Action]:
    """What one handled event's effects become where every possible action succeeds (replay, tests): each
    platform action planned for ``capabilities(action)``; an announcement (``after_done``) that follows an
    impossible action of its group is left out, with the report the live outbox would make in its place.
    Timers and reports pass as they are."""
    impossible: dict[str, list[str]] = {}  # group -> the impossible actions of the batch so far
    out: list[Action] = []
    for action in effects:
        if type(action) in ENGINE_EFFECTS:
            out.append(action)
            continue
        planned = plan(action, capabilities(action), templates)
        if not is_possible(action, planned):
            impossible.setdefault(action.group_key, []).append(impossible_here(action))
        for item in planned:
            problems = impossible.get(item.group_key) if isinstance(item, SendMessage) and item.after_done else None
            out.append(Report(platform=item.platform, group=item.group, text=not_told(item, problems), plugin=item.plugin,
                              reason="not_announced") if problems else item)
    return out


class _Step:
    """One queued action of a submit. ``problem`` says why it was not carried out (impossible here, or
    failed), once known; ``after`` (announcements only) holds the steps of the platform actions that came
    before it in the same submit and group; ``announced``: an announcement follows this step, so its
    failure is reported together with the announcement that was not sent."""

    __slots__ = ("problem", "after", "announced", "begins", "ends")

    def __init__(self, problem: str | None = None, after: tuple["_Step", ...] | None = None):
        self.problem, self.after, self.announced = problem, after, False
        # The outbox row (bot.journal) whose delivery this step begins (marked "sending" before it) and ends.
        self.begins: str | None = None
        self.ends: str | None = None


class _Ticket:
    """The actions of one ``submit``: how many are still queued, whether all went out so far."""

    def __init__(self, future: asyncio.Future):
        self.future, self.left, self.ok = future, 0, True

    def settle(self) -> None:
        if self.left == 0 and not self.future.done():
            self.future.set_result(self.ok)


class Outbox:
    """Live delivery through ``adapters`` (platform -> adapter), read at each delivery: fill that mapping,
    do not replace it. ``limits(platform)`` paces a platform; ``report(text, to_chat)`` tells the operators
    what could not be delivered (``to_chat`` False: not in the admin log chat, the failure was there)."""

    def __init__(self, adapters: Mapping[str, Adapter], templates: Templates,
                 limits: Callable[[str], OutboxLimits], report: Callable[[str, bool], None],
                 settled: Callable[[SendMessage, str | None], None] = lambda _message, _problem: None, *,
                 media: Media):
        self.adapters, self.templates, self.limits, self.report = adapters, templates, limits, report
        self.media = media  # fetches what a message carries from another group (``SendMessage.fetch``)
        self.settled = settled  # told the outcome of each message with a receipt (bot/receipts.py)
        self._queues: dict[str, deque[tuple[Action, _Ticket, _Step]]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._sent: dict[str, deque[float]] = {}  # per group: times of recent sends
        self._next_free: dict[str, float] = {}  # per platform: earliest time of the next call
        self._calls: dict[str, deque[asyncio.Future]] = {}  # per platform: the latest calls, each resolved when answered
        self._idle = asyncio.Event()
        self._idle.set()
        self._held = 0  # submits announced (``hold``) and not made yet: events whose commit is under way
        self.journal = None  # bot.journal.Journal, live: the rows of the transactional outbox

    def hold(self) -> None:
        """An event's actions will be submitted once its transaction commits: ``drain`` waits for them."""
        self._held += 1
        self._idle.clear()

    def release(self) -> None:
        self._held -= 1
        if not self._workers and not self._held:
            self._idle.set()

    def submit(self, actions: list[Action], rows: list[str] | None = None) -> asyncio.Future:
        """Queue actions (already fallback-planned or not); returns at once. The future resolves when all
        of them are out: True when every one was delivered, False when any was dropped or given up on
        (the scheduler records a slot as sent only on True). ``rows``, one per action, name their rows in
        the transactional outbox: each is marked "sending" before its action goes out and done after."""
        ticket = _Ticket(asyncio.get_running_loop().create_future())
        done_so_far: dict[str, list[_Step]] = {}  # per group: the steps of this submit's platform actions
        for index, action in enumerate(actions):
            row = rows[index] if rows is not None else None
            adapter = self.adapters.get(action.platform)
            if adapter is None:
                log.warning("no adapter for platform %s; dropped %s", action.platform, describe(action))
                ticket.ok = False
                if isinstance(action, SendMessage) and action.receipt:
                    self.settled(action, Problem(f"the bot is not connected to {action.platform}",
                                                 f"机器人没有连接 {action.platform}"))
                if row is not None:
                    self.journal.done(row)
                continue
            owner = getattr(adapter, "owner_of", None)  # adapters that know the group's owner (WeChat)
            owner = owner(action.group) if owner is not None and isinstance(action, KickMember) else None
            planned = plan(action, adapter.capabilities(action.group), self.templates, owner)
            earlier = done_so_far.setdefault(action.group_key, [])
            if not is_possible(action, planned):
                earlier.append(_Step(impossible_here(action)))
            if row is not None and not planned:
                self.journal.done(row)
            for position, item in enumerate(planned):
                step = self._step(item, earlier)
                if row is not None:
                    step.begins = row if position == 0 else None
                    step.ends = row if position == len(planned) - 1 else None
                if not isinstance(item, SendMessage):
                    earlier.append(step)
                self._queue(item, ticket, step)
        ticket.settle()
        return ticket.future

    @staticmethod
    def _step(item: Action, earlier: list[_Step]) -> _Step:
        if not (isinstance(item, SendMessage) and item.after_done):
            return _Step()
        for step in earlier:
            step.announced = True
        return _Step(after=tuple(earlier))

    def _queue(self, item: Action, ticket: _Ticket, step: _Step) -> None:
        key = item.group_key
        ticket.left += 1
        self._queues.setdefault(key, deque()).append((item, ticket, step))
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key), name=f"outbox {key}")

    async def drain(self) -> None:
        """Wait until every queued action has been delivered or given up on."""
        await self._idle.wait()

    async def _work(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue:
                action, ticket, step = queue[0]
                # The steps before an announcement are settled by now: they were queued ahead of it here.
                untrue = [s.problem for s in step.after or () if s.problem]
                if untrue:
                    self._report_for(action)(not_told(action, untrue))
                    problem = Problem("; ".join(untrue), "它宣布的操作没有做成，所以没有发出")
                else:
                    problem = step.problem = await self._deliver(action, step.announced, step.begins)
                    ticket.ok &= step.problem is None
                if isinstance(action, SendMessage) and action.receipt:
                    self.settled(action, problem)
                if step.ends is not None:
                    await self.journal.finished(step.ends)
                queue.popleft()
                ticket.left -= 1
                ticket.settle()
        finally:
            del self._workers[key]
            if not self._workers and not self._held:
                self._idle.set()

    async def _mark_sending(self, row: str) -> None:
        """Durably mark a row "sending" before its action goes out: after a crash, a message marked so is not
        sent again (it may have arrived); one never marked is. A failed mark only widens that doubt."""
        try:
            await self.journal.sending(row)
        except Exception:
            log.exception("could not mark an outbox row as sending; delivering it anyway")

    async def _pace(self, action: Action) -> asyncio.Future:
        """Wait for this action's turn; returns the call's future, to resolve when the platform answered."""
        limits = self.limits(action.platform)
        loop = asyncio.get_running_loop()
        if isinstance(action, SendMessage):
            sent = self._sent.setdefault(action.group_key, deque(maxlen=limits.per_group_per_minute))
            if len(sent) == sent.maxlen and (wait := sent[0] + GROUP_WINDOW_SECONDS - loop.time()) > 0:
                await asyncio.sleep(wait)
            sent.append(loop.time())
        # Reserve the platform's next slot before sleeping, so concurrent groups queue fairly.
        now = loop.time()
        slot = max(now, self._next_free.get(action.platform, now))
        self._next_free[action.platform] = slot + 1.0 / limits.per_second
        if slot > now:
            await asyncio.sleep(slot - now)
        # Slots are evenly spaced when calls start, but the platform counts calls when they arrive, and one
        # call's trip may take longer than the next one's: 1,000 posts at exactly 30/s met 429s. So a call
        # also waits until the call a window's worth before it was answered a full window ago — but for one
        # window at most: a call stuck on a slow platform answer (for one group) must not hold up the others.
        window = max(1, int(limits.per_second))
        calls = self._calls.get(action.platform)
        if calls is None or calls.maxlen != window:
            calls = self._calls[action.platform] = deque(maxlen=window)
        oldest = calls[0] if len(calls) == window else None
        mine = loop.create_future()
        calls.append(mine)  # before waiting, so the next call measures from the one after ``oldest``
        try:
            if oldest is not None:
                try:
                    answered = await asyncio.wait_for(asyncio.shield(oldest), window / limits.per_second)
                except TimeoutError:
                    answered = loop.time() - window / limits.per_second  # it arrived a window ago at the latest
                if (wait := answered + window / limits.per_second - loop.time()) > 0:
                    await asyncio.sleep(wait)
        except BaseException:
            mine.set_result(loop.time())  # cancelled: never leave a later call waiting on this one
            raise
        return mine

    def _report_for(self, action: Action) -> Callable[[str], None]:
        # A report about a failed admin-log message must not go to the admin log again.
        return lambda text: self.report(text, action.reason != "admin_log")

    async def _deliver(self, action: Action, announced: bool = False, row: str | None = None) -> str | None:
        """Deliver ``action``; None when done, else what went wrong, reported here unless ``announced`` (then
        the announcement it drops reports it, in one line). ``row``: its outbox row, marked "sending" just
        before the first call (after the pacing wait, so that a crash finds few rows in doubt)."""
        problem = await self._attempt(action, row)
        if problem is not None and not announced:
            self._report_for(action)(problem)
        return problem

    async def _in_doubt(self, adapter: Adapter, action: Action, row: str) -> bool:
        """A message found "sending" after a restart (bot.journal): whether to send it now. Not where the
        platform says the group has it; where the platform cannot say, only a scheduled post (sent again
        rather than lost), and the operators are told about the others."""
        self.journal.doubtful.discard(row)
        has_sent = getattr(adapter, "has_sent", None)
        arrived = None
        if has_sent is not None:
            try:
                arrived = await has_sent(action.group, action.text)
            except PlatformError as exc:
                log.info("%s: cannot tell whether %s arrived: %s", action.group_key, describe(action), exc)
        if arrived:
            log.warning("%s: in the group already, sent before a restart; not sent again: %s", action.group_key,
                        describe(action))
            return False
        if arrived is None and row not in self.journal.again:
            self._report_for(action)(f"not sent again after a restart, it may have arrived: {describe(action)}")
            return False
        return True

    async def _attach(self, message: SendMessage) -> tuple[SendMessage, Problem | None]:
        """``message`` with the picture or file it carries from another group fetched and attached; where
        that cannot be (the target platform takes none, the fetch failed), with a line saying so instead,
        and the problem: the words still go."""
        wanted = message.fetch
        noun = "图片" if wanted.kind == "image" else "文件"
        what = noun if wanted.kind == "image" else f"文件「{wanted.name}」"
        if wanted.kind not in ATTACHMENTS.get(message.platform, ()):
            why = Problem(f"the bot sends no {wanted.kind} on {message.platform}: not attached to {describe(message)}",
                          f"{what}没有转发：机器人在 {message.platform} 上发不了{noun}，只发了文字")
        else:
            try:
                path = await self.media.local(wanted)
            except MediaProblem as exc:
                why = Problem(f"{wanted.kind} from {wanted.platform} not fetched for {describe(message)}: {exc}",
                              f"{what}没能从原群取到，只发了文字")
            else:
                return message.model_copy(update={"fetch": None, wanted.kind: str(path)}), None
        return message.model_copy(update={"fetch": None, "text": f"{message.text}\n（{what}没能转发过来）"}), why

    async def _attempt(self, action: Action, row: str | None = None) -> str | None:
        missing = None
        if isinstance(action, SendMessage) and action.fetch is not None:
            action, missing = await self._attach(action)  # before the pacing wait: a slow fetch takes no turn
        limits = self.limits(action.platform)
        adapter = self.adapters[action.platform]
        failures = floods = 0
        if (connected := getattr(adapter, "wait_connected", None)) is not None:
            await connected()  # at start, the platform's connection may not be up yet: not a failure
        if row is not None and row in self.journal.doubtful and not await self._in_doubt(adapter, action, row):
            return missing
        while True:
            call = await self._pace(action)
            try:
                if row is not None:
                    await self._mark_sending(row)
                    row = None
                await adapter.perform(action)
                return missing
            except FloodError as exc:
                # The platform asked for a pause: it is not a failure of this action, and the whole
                # platform waits, so other groups do not keep hitting the same limit.
                floods += 1
                if floods > MAX_FLOOD_WAITS:
                    return Problem(f"gave up after {floods} flood waits: {describe(action)}",
                                   f"平台限流，等了 {floods} 次仍发不出去")
                log.warning("%s: flood control, waiting %.1fs", action.group_key, exc.retry_after)
                resume = asyncio.get_running_loop().time() + exc.retry_after
                self._next_free[action.platform] = max(self._next_free.get(action.platform, 0.0), resume)
            except PlatformError as exc:
                if isinstance(exc, MaybeDelivered) and isinstance(action, SendMessage):
                    # The message may be in the group already: a second copy is worse than a lost one
                    # the operator is told about. Actions that end in a state are simply taken again.
                    self._report_for(action)(f"not sent again, it may have arrived: {describe(action)}: {exc}")
                    return None  # counted as out: a scheduled post is not sent again at the next start either
                failures += 1
                if not exc.retryable:
                    return Problem(f"could not deliver {describe(action)}: {exc}", f"平台拒绝：{exc}")
                if failures > limits.max_retries:
                    return Problem(f"gave up after {failures} attempts: {describe(action)}: {exc}",
                                   f"试了 {failures} 次都失败：{exc}")
                await asyncio.sleep(limits.backoff_seconds * 2 ** (failures - 1))
            except Exception as exc:  # an adapter bug: report it, keep the queue moving
                log.exception("adapter %s failed", action.platform)
                return Problem(f"could not deliver {describe(action)}: {exc!r}", "机器人出错，详情见日志")
            finally:
                if not call.done():
                    call.set_result(asyncio.get_running_loop().time())
