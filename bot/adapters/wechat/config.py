"""The ``[wechat]`` section of config.toml. No gRPC import here: config is read by every deployment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WechatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The provider's puppet-service endpoint, "host:port" (the gRPC address they give you).
    endpoint: str = "127.0.0.1:8788"
    # The environment variable holding the provider's token (sent as "authorization: Wechaty <token>");
    # the token itself never appears in config or logs.
    token_env: str = "QUNBOT_WECHAT_TOKEN"
    # Most providers serve plain gRPC ("no TLS"); set true for one that serves TLS with a public certificate.
    tls: bool = False
    call_timeout: float = Field(15.0, gt=0)  # seconds one call may take
    reconnect_max_seconds: float = Field(10.0, gt=0)  # the reconnect backoff (from 0.5 s) stops growing here
    # With no event for this long, the connection is tested with a ding; a failed ding reconnects.
    idle_seconds: float = Field(60.0, gt=0)
    # The whole account's pace on top of the outbox's per-room limit: personal accounts get banned
    # for bursts, so sends across all rooms together are spread out too (queued, never dropped).
    account_per_minute: int = Field(20, ge=1)
    # WeChat cannot list a room's admins: name them here, everywhere ("*") or per room id.
    admins: dict[str, list[str]] = {}
    # Direct chats are ignored unless this is on; they then reach plugins as a "group" that is the contact id.
    direct_chats: bool = False
    # How long a removal may take to show in the room's member list before it counts as not done.
    confirm_seconds: float = Field(5.0, gt=0)
    room_cache_seconds: float = Field(300.0, gt=0)  # how long a room's owner and members are trusted
