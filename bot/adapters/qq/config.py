"""The ``[qq]`` section of config.toml: how Qunbot reaches its OneBot v11 implementations.

No protocol library is imported here, so ``qunbot check`` validates the section without it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForwardConnection(_Strict):
    """One implementation (one QQ account) that listens for us: NapCat's "WebSocket server"."""

    url: str = Field(pattern=r"^wss?://")
    token_env: str = ""  # overrides [qq].token_env for this account


class ReverseServer(_Strict):
    """Where implementations connect to us: NapCat's "WebSocket client" (reverse WS), any number of accounts."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    path: str = Field("/onebot/v11/ws", pattern=r"^/")


class QQConfig(_Strict):
    forward: list[ForwardConnection] = []
    reverse: ReverseServer | None = None
    # The environment variable holding the OneBot access token (sent as "Authorization: Bearer …",
    # required from reverse connections, checked before their first frame). Empty: no token, and then no
    # [qq.reverse] either (it would take events from anyone who can reach its port).
    token_env: str = ""
    action_timeout: float = Field(10.0, gt=0)  # seconds to wait for an action's answer
    # Seconds to wait for the notice that should follow an accepted join, kick or mute (some
    # implementations answer ok without acting); its absence is reported.
    confirm_seconds: float = Field(15.0, gt=0)
    # Seconds between tries when member info is missing (right after a join), and how many tries.
    member_info_retry_seconds: float = Field(0.5, ge=0)
    member_info_tries: int = Field(4, ge=1, le=20)
    # A frame larger than this closes its connection (which is then made again): it bounds the memory one
    # frame may take. An answer listing a 3,000-member group is about 1 MB.
    max_frame_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)

    @model_validator(mode="after")
    def _somewhere_to_connect(self) -> "QQConfig":
        if not self.forward and self.reverse is None:
            raise ValueError("needs at least one [[qq.forward]] connection or a [qq.reverse] server")
        return self
