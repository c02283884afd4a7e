"""The adapters config.toml may name, and how each is built from its config section.

Each adapter package is imported only in ``build_adapter`` and only when named, so a deployment that
serves one platform never imports the other platforms' SDKs, and reading config.toml imports none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.adapters.base import Adapter, AdapterStartError

if TYPE_CHECKING:
    from bot.config import QunbotConfig

# Adapter names config.toml may list (each must be buildable by build_adapter).
ADAPTER_NAMES = ("console", "qq", "qq_official", "telegram", "wechat", "wecom")


def build_adapter(name: str, config: QunbotConfig) -> Adapter:
    """The adapter called ``name`` in config.toml's ``adapters`` list, built from its config section."""
    if name == "console":
        from bot.adapters.console.adapter import ConsoleAdapter

        return ConsoleAdapter(config.console)
    if name == "qq":
        if config.qq is None:
            raise AdapterStartError("config.toml lists the qq adapter but has no [qq] section")
        from bot.adapters.qq.adapter import QQAdapter

        return QQAdapter(config.qq)
    if name == "qq_official":
        if config.qq_official is None:
            raise AdapterStartError("config.toml lists the qq_official adapter but has no [qq_official] section (app_id)")
        from bot.adapters.qq_official.adapter import QQOfficialAdapter

        return QQOfficialAdapter(config.qq_official)
    if name == "telegram":
        from bot.adapters.telegram.adapter import TelegramAdapter
        from bot.adapters.telegram.config import TelegramConfig

        return TelegramAdapter(config.telegram or TelegramConfig())
    if name == "wechat":
        if config.wechat is None:
            raise AdapterStartError("config.toml lists the wechat adapter but has no [wechat] section (endpoint, token_env)")
        from bot.adapters.wechat.adapter import WechatAdapter

        return WechatAdapter(config.wechat)
    if name == "wecom":
        if config.wecom is None:
            raise AdapterStartError("config.toml lists the wecom adapter but has no [wecom] section (bot_id, secret_env)")
        from bot.adapters.wecom.adapter import WecomAdapter

        return WecomAdapter(config.wecom)
    raise ValueError(f"unknown adapter {name!r}")
