"""Deployment configuration (config.toml): which adapters, database, timezone, limits.

Secrets never live here: an adapter section names the environment variable that holds its token.
Without a config file Qunbot runs the embedded default: SQLite in the working folder, the console group.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.adapters.console.config import ConsoleConfig
from bot.adapters.qq.config import QQConfig
from bot.adapters.qq_official.config import QQOfficialConfig
from bot.adapters.registry import ADAPTER_NAMES
from bot.adapters.telegram.config import TelegramConfig
from bot.adapters.wechat.config import WechatConfig
from bot.adapters.wecom.config import WecomConfig
from bot.images import ImageLimits
from bot.rules import RuleError, validation_errors
from bot.store import normalise_url
from bot.web.config import WebConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutboxLimits(_Strict):
    """Delivery pace for one platform; queued, never dropped."""

    per_group_per_minute: int = Field(20, ge=1)
    per_second: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)


DEFAULT_LIMITS = {
    "telegram": OutboxLimits(per_group_per_minute=20, per_second=30),
    "qq": OutboxLimits(per_group_per_minute=20, per_second=5),
    # Replies are capped per member message by QQ itself (5 each); this keeps bursts below its rate limits.
    "qq_official": OutboxLimits(per_group_per_minute=20, per_second=5),
    # Personal WeChat accounts get banned for bursts: be conservative.
    "wechat": OutboxLimits(per_group_per_minute=10, per_second=1),
    # WeCom: the group webhook's own limit (20 a minute) is kept by the adapter, per webhook.
    "wecom": OutboxLimits(per_group_per_minute=20, per_second=5),
    "console": OutboxLimits(per_group_per_minute=100_000, per_second=100_000),
}


class QunbotConfig(_Strict):
    database_url: str = "sqlite:///qunbot.db"
    timezone: str = "Asia/Shanghai"
    group_timezones: dict[str, str] = {}
    adapters: list[str] = ["console"]
    bot_admins: list[str] = []  # "<platform>:<user id>", treated as owners everywhere
    bot_usernames: dict[str, str] = {}  # platform -> the bot's @name, for "/cmd@name"
    admin_log: str = ""  # "<platform>:<group id>" that receives refused rule files and delivery failures
    templates_dir: str = ""  # operator overrides, searched before templates/
    rules_poll_seconds: float = Field(2.0, gt=0)
    # Replicas on PostgreSQL (README: Topologies): a group's owner renews its lease five times per this
    # period; when the owner dies, another process takes the group over within it (plus one renewal).
    lease_seconds: float = Field(5.0, ge=1, le=300)
    outbox: dict[str, OutboxLimits] = {}
    images: ImageLimits = ImageLimits()  # reading pictures (QR codes, OCR): bot/images.py
    console: ConsoleConfig = ConsoleConfig()
    qq: QQConfig | None = None
    qq_official: QQOfficialConfig | None = None
    telegram: TelegramConfig | None = None
    wechat: WechatConfig | None = None
    wecom: WecomConfig | None = None
    web: WebConfig | None = None  # the operator's web console; off unless configured

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        normalise_url(value)  # the store knows which databases it can open
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("group_timezones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _zone(zone)
        return value

    @field_validator("adapters")
    @classmethod
    def _known_adapters(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ADAPTER_NAMES))
        if unknown:
            raise ValueError(f"unknown adapter {', '.join(unknown)} (available: {', '.join(ADAPTER_NAMES)})")
        return value

    def limits(self, platform: str) -> OutboxLimits:
        return self.outbox.get(platform) or DEFAULT_LIMITS.get(platform, OutboxLimits())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None


def load_config(path: Path | None) -> tuple[QunbotConfig, list[RuleError]]:
    """Read config.toml (or the embedded default when ``path`` is None); errors as ``file: key: problem``."""
    if path is None:
        return QunbotConfig(), []
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        return QunbotConfig(), [RuleError(name, "(toml)", str(exc))]
    except OSError as exc:
        return QunbotConfig(), [RuleError(name, "(file)", exc.strerror or str(exc))]
    except UnicodeDecodeError as exc:
        return QunbotConfig(), [RuleError(name, "(file)", f"not UTF-8 text: {exc}")]
    try:
        return QunbotConfig.model_validate(data), []
    except ValidationError as exc:
        return QunbotConfig(), validation_errors(exc, QunbotConfig, name)


def default_config_path(given: str | None) -> Path | None:
    """``--config FILE`` if given, else ./config.toml if present, else None (the embedded default)."""
    if given:
        return Path(given)
    local = Path("config.toml")
    return local if local.exists() else None
