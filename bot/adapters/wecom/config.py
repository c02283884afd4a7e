"""The ``[wecom]`` section of config.toml. No network library is imported here: config is read by every
deployment, and ``qunbot check`` validates the section without them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallbackServer(_Strict):
    """Callback mode: WeCom posts encrypted callbacks to an HTTPS address that reaches host:port/path here
    (behind the operator's reverse proxy, which holds the certificate)."""

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)  # 0: any free port (tests)
    path: str = Field("/wecom/callback", pattern=r"^/")
    # The Token and EncodingAESKey set in the AI bot's API settings, each from an environment variable.
    token_env: str = "QUNBOT_WECOM_TOKEN"
    aes_key_env: str = "QUNBOT_WECOM_AES_KEY"
    # How long the answer to a callback waits for the bot's reply to ride in it. A reply that is not
    # ready by then goes out through the callback's response_url, a proactive send or the webhook.
    reply_wait_seconds: float = Field(3.0, ge=0, le=4.5)


class WecomConfig(_Strict):
    # "long_connection": Qunbot connects out to WeCom (no public address needed); "callback": WeCom
    # posts to [wecom.callback]. Set the same mode in the AI bot's API settings in the admin console.
    mode: Literal["long_connection", "callback"] = "long_connection"
    bot_id: str = ""  # the AI bot's Bot ID (not a secret); required for the long connection
    secret_env: str = "QUNBOT_WECOM_SECRET"  # environment variable with the AI bot's Secret
    # The name members type after "@" to address the bot: stripped from the text wherever it appears.
    # Without it only a leading @mention is stripped.
    bot_name: str = ""
    ws_url: str = "wss://openws.work.weixin.qq.com"
    ping_seconds: float = Field(30.0, gt=0)  # keep-alive; two unanswered pings end the connection
    call_timeout: float = Field(10.0, gt=0)  # seconds to wait for WeCom's answer to a frame
    reconnect_max_seconds: float = Field(10.0, gt=0)  # the reconnect backoff (from 0.5 s) stops growing here
    # A message caused by an @-message is sent as the answer to it (echoing its request id) while the
    # callback is this young; later ones are messages the bot starts.
    answer_window_seconds: float = Field(60.0, gt=0)
    # Try the AI bot's proactive send (aibot_send_msg) for messages the bot starts. Where WeCom refuses
    # it, the group's webhook is used, and the group is not tried again for proactive_retry_seconds.
    proactive: bool = True
    proactive_retry_seconds: float = Field(3600.0, ge=0)
    callback: CallbackServer = CallbackServer()
    # Group webhooks (消息推送), a send-only road per group: group (chat) id -> the environment variable
    # that holds that webhook's key (the part after "key=" in its address).
    webhooks: dict[str, str] = {}
    webhook_url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    # WeCom allows 20 messages a minute per webhook: posts beyond it are queued, never dropped.
    webhook_per_minute: int = Field(20, ge=1)
    webhook_window_seconds: float = Field(60.0, gt=0)
    # WeCom does not tell a bot who administers a group: name them here, everywhere ("*") or per group id.
    admins: dict[str, list[str]] = {}

    @model_validator(mode="after")
    def _bot_id_for_long_connection(self) -> "WecomConfig":
        if self.mode == "long_connection" and not self.bot_id:
            raise ValueError("the long connection needs bot_id (the AI bot's Bot ID from the admin console)")
        return self
