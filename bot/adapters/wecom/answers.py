"""Which callback a message answers.

A bot's message in a WeCom group goes out as the answer to an @-message (echoing its request id on the
long connection; in the HTTP answer or through its response_url in callback mode) as long as that
callback is young enough. Plugins do not say which message they answer, so the adapter decides: the
message named by ``reply_to``; else the latest callback of a member the message mentions (a check-in
reply mentions the member who checked in); else the group's latest callback. Older callbacks are
forgotten: a message with no young callback is one the bot starts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

PER_GROUP = 32  # callbacks remembered per group (more than arrive in an answer window in practice)


@dataclass
class Callback:
    group: str
    msgid: str
    user: str
    at: float  # loop time it arrived
    req_id: str = ""  # long connection: the request id an answer echoes
    response_url: str = ""  # callback mode: one later message may go there
    collected: list[str] | None = None  # callback mode: texts for the HTTP answer while it is still open
    used: bool = False  # callback mode: the response_url has been used (it takes one message)


class Answers:
    def __init__(self, window: float):
        self.window = window
        self._groups: dict[str, deque[Callback]] = {}

    def add(self, callback: Callback) -> None:
        self._groups.setdefault(callback.group, deque(maxlen=PER_GROUP)).append(callback)

    def find(self, group: str, now: float, reply_to: str | None = None, mentions: tuple[str, ...] = ()) -> Callback | None:
        young = [c for c in self._groups.get(group, ()) if now - c.at <= self.window]
        if not young:
            return None
        if reply_to:
            named = [c for c in young if c.msgid == reply_to]
            if named:
                return named[-1]
        for user in mentions:
            theirs = [c for c in young if c.user == user]
            if theirs:
                return theirs[-1]
        return young[-1]

    def forget(self, callback: Callback) -> None:
        """A callback WeCom no longer lets us answer."""
        calls = self._groups.get(callback.group)
        if calls is not None and callback in calls:
            calls.remove(callback)
