"""Platform adapters. Each turns raw updates into neutral events and performs neutral actions.

Only the modules under this package may import a platform SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.model import Action

if TYPE_CHECKING:
    from bot.engine import Engine


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
CAPABILITIES: dict[str, frozenset[str]] = {
    "telegram": frozenset({"send", "delete", "mute", "mute_all", "kick", "decide_join"}),
    "qq": frozenset({"send", "delete", "mute", "mute_all", "kick", "set_card", "decide_join"}),
    "wechat": frozenset({"send"}),
    "console": frozenset({"send", "delete", "mute", "mute_all", "kick", "set_card", "decide_join"}),
}


def build_adapter(name: str, config) -> "Adapter":
    """The adapter called ``name`` in config.toml's ``adapters`` list, built from its config section.

    Each adapter package is imported only here and only when named, so a deployment that serves one
    platform never imports the other platforms' SDKs.
    """
    if name == "console":
        from bot.adapters.console import ConsoleAdapter

        return ConsoleAdapter(config.console)
    if name == "qq":
        if config.qq is None:
            raise AdapterStartError("config.toml lists the qq adapter but has no [qq] section")
        from bot.adapters.qq.adapter import QQAdapter

        return QQAdapter(config.qq)
    if name == "telegram":
        from bot.adapters.telegram.adapter import TelegramAdapter
        from bot.adapters.telegram.config import TelegramConfig

        return TelegramAdapter(config.telegram or TelegramConfig())
    if name == "wechat":
        if config.wechat is None:
            raise AdapterStartError("config.toml lists the wechat adapter but has no [wechat] section (endpoint, token_env)")
        from bot.adapters.wechat.adapter import WechatAdapter

        return WechatAdapter(config.wechat)
    raise ValueError(f"unknown adapter {name!r}")


# Adapter names config.toml may list (each must be buildable by build_adapter).
ADAPTER_NAMES = ("console", "qq", "telegram", "wechat")


class Adapter(Protocol):
    platform: str

    def capabilities(self, group: str) -> frozenset[str]:
        """The actions this adapter can perform in ``group`` (group id within the platform)."""

    async def run(self, engine: "Engine") -> None:
        """Connect, feed events to ``engine.handle`` until stopped or the source ends."""

    async def perform(self, action: Action) -> None:
        """Carry out one action; raise FloodError or PlatformError when the platform refuses."""
