"""The ``[telegram]`` section of config.toml. No SDK import here: config is read by every deployment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TelegramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The environment variable that holds the bot token (from @BotFather); the token itself never
    # appears in config or logs.
    token_env: str = "QUNBOT_TELEGRAM_TOKEN"
    # The Bot API server; the token is appended. Point it at a self-hosted telegram-bot-api server
    # as "http://127.0.0.1:8081/bot".
    base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    poll_timeout: int = Field(30, ge=0, le=50)  # seconds a getUpdates call waits for news
    reconnect_max_seconds: float = Field(10.0, gt=0)  # the backoff after lost connections stops growing here
    # Webhook mode: Telegram posts updates to webhook_url, which must reach listen:port/path here.
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_path: str = "telegram"
    # The environment variable with the secret Telegram sends back in a header; required in webhook mode.
    webhook_secret_env: str = ""
    # How long a group's administrator list is trusted before it is fetched again (it is also dropped
    # whenever a member's status changes).
    admin_cache_seconds: float = Field(600.0, gt=0)
    # Where the permissions replaced by "mute all" are kept until they are restored, across restarts.
    permissions_file: str = "qunbot-telegram-permissions.json"
