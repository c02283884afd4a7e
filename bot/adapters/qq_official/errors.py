"""The platform's error answers → the exceptions the outbox understands, each with one clear sentence.

OpenAPI errors come as an HTTP status and a body ``{"code": …, "message": …}`` (error-trace/openapi.md);
some answers are HTTP 200 with a code in the body. Permanent refusals (no permission, quota spent, window
passed, bot removed) raise PlatformError(retryable=False) so the outbox reports them once and moves on;
rate limits raise FloodError so it waits; server trouble is retryable.
"""

from __future__ import annotations

from bot.adapters.base import FloodError, PlatformError

# How long to wait when QQ says "too fast" without saying how long.
FLOOD_WAIT_SECONDS = 2.0

# code -> what it means for an operator. Only the codes a group bot meets; the rest are shown as given.
MEANINGS: dict[int, str] = {
    11241: "no access token (the adapter sends one: check the AppID and secret)",
    11243: "access token refused",
    11251: "wrong AppID",
    11253: "the bot has no permission for this endpoint (apply for it on q.qq.com; group management is invite-only)",
    11254: "this endpoint is banned for the bot",
    11265: "the bot is banned",
    11282: "the bot is not an admin of this group (make it one in the group's settings)",
    22009: "message rate limit exceeded",
    20028: "rate limit",
    304003: "the message contains a URL not registered on q.qq.com (开发设置 → 消息URL配置)",
    304022: "the group does not accept messages at this time",
    304026: "the message being replied to is unknown",
    304027: "the reply window of the message being answered has passed",
    304045: "active-message quota spent",
    304046: "the group does not allow the bot to start messages",
    304048: "the group does not allow the bot to start messages",
    306004: "no permission to recall this message",
    306011: "the message is too old to recall (2 minutes)",
    1100104: "the group no longer exists",
    1100301: "the bot is not a member of this group",
    1100100: "message rate limited by QQ's safety system",
}

# Codes that ask us to wait rather than give up.
FLOOD_CODES = frozenset({22009, 20028, 1100100, 1100308, 610013, 620006})
# Codes worth one more try (the docs: "系统错误，一般重试一次会好").
RETRY_CODES = frozenset({11281, 11252, 11263, 11242, 306003, 306005, 306006, 304082, 304083, 1100300})
# Codes after which the group is gone for the bot: its state must be fetched again before the next try.
GONE_CODES = frozenset({1100104, 1100301})


class ApiError(PlatformError):
    """A refusal from the OpenAPI, keeping its code for the adapter's own decisions."""

    def __init__(self, message: str, code: int | None, status: int, retryable: bool):
        super().__init__(message, retryable)
        self.code, self.status = code, status


def describe(code: int | None, message: str) -> str:
    meaning = MEANINGS.get(code) if code is not None else None
    return f"{meaning} ({code}: {message})" if meaning else f"{message or 'no message'} ({code})"


def error_for(what: str, status: int, body: object, retry_after: float | None = None) -> PlatformError:
    """The exception for an answer that is not a success; ``what`` names the call for the log line."""
    code, message = None, ""
    if isinstance(body, dict):
        raw = body.get("code", body.get("err_code"))
        code = int(raw) if isinstance(raw, (int, str)) and str(raw).lstrip("-").isdigit() else None
        message = str(body.get("message") or body.get("msg") or "")
    text = f"QQ official: {what} refused: {describe(code, message)} [HTTP {status}]"
    if status == 429 or code in FLOOD_CODES:
        return FloodError(retry_after or FLOOD_WAIT_SECONDS, text)
    retryable = status >= 500 or code in RETRY_CODES
    return ApiError(text, code, status, retryable)
