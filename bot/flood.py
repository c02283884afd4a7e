"""Flood control's counters: for each member, the times of their last messages and how often in a row
they sent the same text, kept while they can still count.

Pure and per process (the anti_ad plugin keeps one ``FloodTracks`` for all its groups: a group is served
by one process, so its counters are whole). Times are the events' own, so replay counts as live does.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# How often (of event time) the tracks are looked through for those that have ended: one walk for many,
# rather than a look at the oldest for every message (which would cost more than the counting itself).
SWEEP_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """A group's limits, made once per rules (building the timedeltas per message would cost as much as
    the count).
    Each is 2 or more, as the rules require: a member's first message crosses none."""

    max_messages: int  # more than this many messages …
    window: timedelta  # … within this is a flood
    max_repeats: int  # the same text this many times in a row …
    repeat_window: timedelta  # … within this is a repeat
    kept: timedelta  # how long after a member's last message their counts still matter

    @classmethod
    def of(cls, max_messages: int, seconds: int, max_repeats: int, repeat_seconds: int) -> "FloodLimits":
        window, repeat_window = timedelta(seconds=seconds), timedelta(seconds=repeat_seconds)
        return cls(max_messages, window, max_repeats, repeat_window, max(window, repeat_window))


@dataclass(slots=True)
class FloodTrack:
    times: list = field(default_factory=list)  # a list, not a deque: an empty deque alone takes 600 bytes
    last: str = ""
    repeats: int = 0
    first_at: datetime | None = None
    until: datetime | None = None  # after this, nothing here counts any more and the track may go


def drop_oldest(kept: OrderedDict, stale) -> None:
    """Drop the entries before the first that is not ``stale(value)``: one walk, then the pops (a new
    look at the oldest before each pop would cost twice as much)."""
    count = 0
    for value in kept.values():
        if not stale(value):
            break
        count += 1
    for _ in range(count):
        kept.popitem(last=False)


class FloodTracks(OrderedDict):
    """Every member's counters, key -> FloodTrack, least recently active first."""

    def __init__(self):
        super().__init__()
        self.sweep_at: datetime | None = None

    def sweep(self, at: datetime) -> None:
        """Drop the tracks whose windows have all passed, so memory follows the members active in the
        last minutes, not everyone ever seen. (A track kept longer changes nothing: ``count`` starts an
        ended track again.)"""
        drop_oldest(self, lambda track: track.until < at)
        self.sweep_at = at + SWEEP_EVERY

    def count(self, key, at: datetime, text: str, limits: FloodLimits) -> str | None:
        """Count a message: "flood" or "repeat" when it crosses the limits (the counts start again then)."""
        if self.sweep_at is None or self.sweep_at < at:  # once a minute of event time
            self.sweep(at)
        track = self.get(key)
        if track is None or track.until < at:  # a first message (since the windows passed): under every limit
            self[key] = FloodTrack([at], text, 1, at, at + limits.kept)
            if track is not None:
                self.move_to_end(key)
            return None
        self.move_to_end(key)
        window = limits.window
        track.until = at + limits.kept
        times = track.times
        times.append(at)
        if at - times[0] > window:
            track.times = times = [t for t in times if at - t <= window]
        if text == track.last and track.first_at and at - track.first_at <= limits.repeat_window:
            track.repeats += 1
        else:
            track.last, track.repeats, track.first_at = text, 1, at
        if track.repeats >= limits.max_repeats:
            kind = "repeat"
        elif len(times) > limits.max_messages:
            kind = "flood"
        else:
            return None
        times.clear()
        track.repeats, track.last = 0, ""
        return kind
