"""The ``[qq_official]`` section of config.toml: the bot's AppID, where its secret is, which transport.

No protocol library is imported here, so ``qunbot check`` validates the section without them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Event groups (intents) a gateway connection asks for: 1<<25 brings group @-messages, full group messages
# (GROUP_MESSAGE_CREATE) and the bot added/removed; 1<<24 brings members joining and leaving and, as far
# as third-party implementations tell, join requests. The webhook ignores intents: events are chosen on q.qq.com.
GROUP_AND_C2C = 1 << 25
GROUP_MEMBERS = 1 << 24
DEFAULT_INTENTS = GROUP_AND_C2C | GROUP_MEMBERS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookServer(_Strict):
    """Where QQ's callbacks reach us: q.qq.com's callback URL must lead (through an HTTPS proxy on port
    80, 443, 8080 or 8443) to host:port/path here."""

    host: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)  # 0: any free port (tests)
    path: str = Field("/qq/callback", pattern=r"^/")


class QQOfficialConfig(_Strict):
    app_id: str = Field(min_length=1)  # AppID from q.qq.com (not a secret)
    # The environment variable holding the AppSecret (机器人密钥): it signs webhooks and gets the token.
    secret_env: str = "QUNBOT_QQ_OFFICIAL_SECRET"
    transport: Literal["websocket", "webhook"] = "websocket"
    # The OpenAPI host moved to api.bot.qq.com in 2026; api.sgroup.qq.com answered too at the time.
    base_url: str = Field("https://api.bot.qq.com", pattern=r"^https?://")
    token_url: str = Field("https://api.bot.qq.com/app/getAppAccessToken", pattern=r"^https?://")
    sandbox: bool = False  # use sandbox_url: only the sandbox groups set on q.qq.com reach the bot
    sandbox_url: str = Field("https://sandbox.api.sgroup.qq.com", pattern=r"^https?://")
    intents: int = Field(DEFAULT_INTENTS, ge=1)
    webhook: WebhookServer = WebhookServer()
    request_timeout: float = Field(10.0, gt=0)  # the docs ask for at least 5 s on message sends
    token_margin_seconds: float = Field(120.0, ge=0)  # the token is renewed this long before it expires
    reconnect_max_seconds: float = Field(30.0, gt=0)
    # The passive window: a reply may answer a member's message for this long, this many times.
    reply_window_seconds: float = Field(300.0, gt=0)
    replies_per_message: int = Field(5, ge=1, le=100)
    bot_state_seconds: float = Field(600.0, gt=0)  # how long a group's bot state is trusted
    # A message the bot may not start in a group (its bot state forbids it) waits this long for a member's
    # message to answer; 0: report it at once instead.
    hold_unsent_hours: float = Field(6.0, ge=0, le=24)
    # Remove members with add_to_member_blacklist (they cannot apply again).
    blacklist_on_kick: bool = False
    # Where the groups already told how to switch on "all messages" are kept, across restarts.
    state_file: str = "qunbot-qq-official.json"

    @property
    def api_url(self) -> str:
        return (self.sandbox_url if self.sandbox else self.base_url).rstrip("/")
