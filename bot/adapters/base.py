"""The contract between the adapters and the rest of bot: what an adapter is (``Adapter``), what it may
raise, what each platform can do (``CAPABILITIES``), and what it needs from the engine (``EventSink``).

This module imports nothing of bot's but bot.model, so the outbox, replay and plugins can know the
contract without importing an adapter, and the adapters without importing the engine.
"""

from __future__ import annotations

from typing import Protocol

from bot.model import Action, Event


class AdapterStartError(Exception):
    """An adapter cannot start (wrong token, server unreachable …); ``qunbot run`` prints it as one line
    and exits 1. The message must name the problem and never contain a secret."""


class PlatformError(Exception):
    """An action the platform refused or could not take; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class MaybeDelivered(PlatformError):
    """The request reached the platform, but its answer was lost (the connection dropped, the answer timed
    out): the action may have been carried out. Trying again is safe for an action that ends in a state
    (mute, kick, delete …) and would duplicate a message, so the outbox retries the former only."""

    def __init__(self, message: str):
        super().__init__(message, retryable=True)


class FloodError(PlatformError):
    """The platform asked us to slow down (Telegram's RetryAfter, HTTP 429 …) for ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "flood control"):
        super().__init__(f"{message}: retry after {retry_after:g}s", retryable=True)
        self.retry_after = retry_after


# What each platform can do itself (DESIGN.md's table); the outbox turns the rest into fallbacks.
# WeChat can remove a member only from a room the bot owns, which only the live adapter knows.
# Besides action names a set may hold "addressed_only": the bot sees only the messages that address it
# (@-mention it), not the group's conversation, so what watches the chat (anti-ad, flood control,
# statistics) sees only those. It is a flag of what is missing, so that the platforms that see everything
# need not declare anything.
CAPABILITIES: dict[str, frozenset[str]] = {
    "telegram": frozenset({"send", "delete", "mute", "mute_all", "kick", "decide_join"}),
    "qq": frozenset({"send", "delete", "mute", "mute_all", "kick", "set_card", "decide_join"}),
    # Where the bot is a group admin; the live adapter narrows this to "send" where it is not.
    "qq_official": frozenset({"send", "delete", "mute", "kick", "decide_join"}),
    "wechat": frozenset({"send"}),
    "wecom": frozenset({"send", "addressed_only"}),
    "console": frozenset({"send", "delete", "mute", "mute_all", "kick", "set_card", "decide_join"}),
}

# What a message of the bot can carry besides its text on each platform (``SendMessage.image`` / ``file``);
# elsewhere the text goes alone (the adapter reports what was left out).
ATTACHMENTS: dict[str, frozenset[str]] = {
    "telegram": frozenset({"image", "file"}),
    "qq": frozenset({"image", "file"}),
    "qq_official": frozenset({"image"}),
    "console": frozenset({"image", "file"}),
}


class EventSink(Protocol):
    """What an adapter needs from the engine (which satisfies this by its shape, not by inheriting it)."""

    async def handle_and_send(self, event: Event) -> object:
        """Run ``event`` through the bus and queue its actions for delivery; returns once they are queued."""

    def report(self, text: str, to_chat: bool = True) -> None:
        """Tell the operators (the log, and the admin log chat where one is set) what went wrong."""

    def learn_bot_username(self, platform: str, name: str) -> None:
        """The bot's own @name on ``platform``, once the adapter has learnt it: ``/cmd@name`` is for us."""


class Adapter(Protocol):
    platform: str

    def capabilities(self, group: str) -> frozenset[str]:
        """The actions this adapter can perform in ``group`` (group id within the platform)."""

    async def run(self, sink: EventSink) -> None:
        """Connect, feed events to ``sink.handle_and_send`` until stopped or the source ends."""

    async def perform(self, action: Action) -> None:
        """Carry out one action; raise FloodError or PlatformError when the platform refuses."""

    # Optional: ``async def fetch_image(self, reference: str, max_bytes: int) -> bytes`` — the bytes of a
    # picture of a message this adapter received (``MessageReceived.images``), at most ``max_bytes`` (raise
    # PlatformError beyond, or when the platform refuses). Adapters without it: pictures are not read.
    # Optional: ``async def has_sent(self, group: str, text: str) -> bool | None`` — whether the group's latest
    # messages hold one of the bot's own with ``text`` (None: cannot say). A post in doubt after a crash is
    # sent again only where this does not say True.
