"""What the bot may still answer in each group: the passive-reply window.

In a QQ group the bot speaks by answering: a message with ``msg_id`` (a member's message, for
``reply_window_seconds``, at most ``replies_per_message`` times, each with a new ``msg_seq``) or with
``event_id`` (the bot added to the group, messages switched on). A message the bot cannot attach to
anything is sent as an active message where the group's bot state allows that; otherwise it is held
(``Held``) until a member's message opens a window again, or reported when it waited too long.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

KEPT_PER_GROUP = 50  # recent messages remembered per group; older ones are past their window anyway


@dataclass
class _Answerable:
    at: float
    used: int = 0


@dataclass(frozen=True)
class Passive:
    """The fields that make a send a passive reply: ``{"msg_id": …, "msg_seq": …}`` or ``{"event_id": …}``."""

    fields: dict


class ReplyWindow:
    def __init__(self, seconds: float, per_message: int, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.per_message, self.clock = seconds, per_message, clock
        self._messages: dict[str, OrderedDict[str, _Answerable]] = {}
        self._events: dict[str, tuple[str, float]] = {}  # group -> (event id, when)

    def message(self, group: str, message_id: str) -> None:
        """A member's message arrived: it may be answered for a while."""
        recent = self._messages.setdefault(group, OrderedDict())
        recent.setdefault(message_id, _Answerable(self.clock()))
        while len(recent) > KEPT_PER_GROUP:
            recent.popitem(last=False)

    def event(self, group: str, event_id: str) -> None:
        """An event that can be answered with event_id (GROUP_ADD_ROBOT, GROUP_MSG_RECEIVE)."""
        self._events[group] = (event_id, self.clock())

    def spent(self, group: str, message_id: str) -> None:
        """QQ said this message can no longer be answered (window passed, unknown id)."""
        entry = self._messages.get(group, {}).get(message_id)
        if entry is not None:
            entry.used = self.per_message

    def take(self, group: str, prefer: str | None = None) -> Passive | None:
        """The fields for one more reply in ``group``, answering ``prefer`` if it still can be answered,
        else the newest message that can; None when nothing in the group may be answered now."""
        now = self.clock()
        recent = self._messages.get(group) or {}
        candidates = ([prefer] if prefer in recent else []) + list(reversed(recent))
        for message_id in candidates:
            entry = recent[message_id]
            if now - entry.at < self.seconds and entry.used < self.per_message:
                entry.used += 1
                return Passive({"msg_id": message_id, "msg_seq": entry.used})
        event = self._events.get(group)
        if event is not None and now - event[1] < self.seconds:
            return Passive({"event_id": event[0]})
        return None


@dataclass
class Held:
    """Messages waiting, per group, for a window to open; each with the time it gives up."""

    hours: float
    clock: Callable[[], float] = time.monotonic
    _waiting: dict[str, deque] = field(default_factory=dict)

    def hold(self, group: str, item) -> None:
        self._waiting.setdefault(group, deque()).append((item, self.clock() + self.hours * 3600))

    def release(self, group: str) -> tuple[list, list]:
        """(items still in time, items that waited too long), oldest first; the group's queue empties."""
        now, fresh, stale = self.clock(), [], []
        for item, deadline in self._waiting.pop(group, ()):
            (fresh if now < deadline else stale).append(item)
        return fresh, stale

    def __len__(self) -> int:
        return sum(len(q) for q in self._waiting.values())
