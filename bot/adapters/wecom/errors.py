"""WeCom's error codes as the adapter contract's exceptions, each with a line an operator can act on.

WeCom answers every call with ``errcode``/``errmsg`` (0 is success). The codes named here are the ones
Qunbot acts on; any other is reported with its code and WeCom's own words, never raised further than the
outbox (which logs it and tells the admin log).
"""

from __future__ import annotations

from bot.adapters.base import FloodError, PlatformError

# Frequency limits: the webhook's 20 a minute (45009), and too many calls at once (45033).
FREQUENCY_LIMITS = {45009, 45033}
# The webhook's key is unknown, or the webhook was removed from its group.
INVALID_WEBHOOK = {93000}
# An answer to a callback that WeCom no longer accepts: the request id is too old (846605) or its stream
# message can no longer be updated (846608). The message is sent another way instead.
EXPIRED_ANSWER = {846605, 846608}
# WeCom is busy: worth trying again.
BUSY = {-1}


class AnswerExpired(PlatformError):
    """The callback this message answers can no longer be answered; the adapter sends it another way."""


def describe(code: int, message: str) -> str:
    return f"errcode {code}: {str(message or '')[:200]}"


def error_for(code: int, message: str, what: str, wait: float = 60.0) -> PlatformError:
    """The exception for a refused call. ``what`` names the call and group (never a key or secret);
    ``wait`` is how long a frequency limit is waited out."""
    detail = describe(code, message)
    if code in FREQUENCY_LIMITS:
        return FloodError(wait, f"wecom: {what}: WeCom's frequency limit ({detail})")
    if code in INVALID_WEBHOOK:
        return PlatformError(f"wecom: {what}: WeCom does not know this webhook key; check the key in its "
                             f"environment variable, or whether the webhook was removed from the group ({detail})")
    if code in EXPIRED_ANSWER or "expired" in str(message).lower():
        return AnswerExpired(f"wecom: {what}: the callback can no longer be answered ({detail})")
    return PlatformError(f"wecom: {what}: refused ({detail})", retryable=code in BUSY)
