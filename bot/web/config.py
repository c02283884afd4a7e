"""The ``[web]`` section of config.toml: the operator's web console (off unless the section is there)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535)  # 0: any free port (tests)
    # The address people open, as the bot writes it into /后台 links (behind a reverse proxy with TLS:
    # "https://bot.example.com"); empty: http://<listen>:<port>.
    public_url: str = ""
    # The environment variable that holds the operators' secret (whole-bot access); unset or empty:
    # operators cannot log in, owners still can with /后台 links.
    operator_secret_env: str = "QUNBOT_WEB_SECRET"
    link_minutes: int = Field(10, ge=1, le=60)  # how long a /后台 link stays valid (it works once)
    session_minutes: int = Field(120, ge=5, le=7 * 24 * 60)  # a login lasts this long, then log in again
    secure_cookies: bool = False  # set where the console is served over HTTPS

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.listen}:{self.port}").rstrip("/")
