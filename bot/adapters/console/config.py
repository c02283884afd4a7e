"""The ``[console]`` section of config.toml: who is typing in the sandbox group, and in which group."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.model import Role


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = "sandbox"
    user: str = "小王"
    role: Role = "member"
