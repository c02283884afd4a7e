"""The adapters config.toml may name, and how each is built from its config section.

Each adapter package is imported only in ``build_adapter`` and only when named, so a deployment that
serves one platform never imports the other platforms' SDKs, and reading config.toml imports none.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bot.adapters.base import Adapter, AdapterStartError

if TYPE_CHECKING:
    from bot.config import QunbotConfig

# name -> (module, class, what its config section must at least name; None: the section may be left out)
_ADAPTERS: dict[str, tuple[str, str, str | None]] = {
    "console": ("bot.adapters.console.adapter", "ConsoleAdapter", None),
    "qq": ("bot.adapters.qq.adapter", "QQAdapter", ""),
    "qq_official": ("bot.adapters.qq_official.adapter", "QQOfficialAdapter", "app_id"),
    "telegram": ("bot.adapters.telegram.adapter", "TelegramAdapter", None),
    "wechat": ("bot.adapters.wechat.adapter", "WechatAdapter", "endpoint, token_env"),
    "wecom": ("bot.adapters.wecom.adapter", "WecomAdapter", "bot_id, secret_env"),
}

# The config of an adapter that runs on defaults when its section is left out: (module, class).
_DEFAULT_SECTIONS = {"telegram": ("bot.adapters.telegram.config", "TelegramConfig")}

# Adapter names config.toml may list (each must be buildable by build_adapter).
ADAPTER_NAMES = tuple(_ADAPTERS)


def build_adapter(name: str, config: QunbotConfig) -> Adapter:
    """The adapter called ``name`` in config.toml's ``adapters`` list, built from its config section."""
    if name not in _ADAPTERS:
        raise ValueError(f"unknown adapter {name!r}")
    module, cls, needs = _ADAPTERS[name]
    section = getattr(config, name)
    if section is None:
        if needs is not None:
            raise AdapterStartError(f"config.toml lists the {name} adapter but has no [{name}] section"
                                    + (f" ({needs})" if needs else ""))
        section = _default_section(name)
    return getattr(importlib.import_module(module), cls)(section)


def _default_section(name: str):
    module, cls = _DEFAULT_SECTIONS[name]
    return getattr(importlib.import_module(module), cls)()
