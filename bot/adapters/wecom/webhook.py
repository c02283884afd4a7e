"""Group webhooks (消息推送): a send-only road into one group each, for the messages the AI bot may not
start (scheduled posts, reports).

WeCom allows ``per_minute`` (20) messages a minute per webhook. Posts to one webhook go one at a time,
and a post waits until the post ``per_minute`` before it was *answered* a full window ago: WeCom counts
posts when they arrive, and an answer comes after the arrival, so measuring from answers never lets a
window hold more than the limit, whatever the network delays. Overflow (another sender sharing the
webhook) is answered 45009 and waited out, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import httpx

from bot.adapters.base import FloodError, MaybeDelivered, PlatformError
from bot.adapters.wecom.errors import FREQUENCY_LIMITS, error_for

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and a webhook URL holds its key.
logging.getLogger("httpx").setLevel(logging.WARNING)

TEXT_LIMIT = 2048  # bytes of a text message's content
FLOOD_TRIES = 3  # frequency-limit answers waited out before the outbox is told to wait


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:  # a single line longer than a message
            cut = len(line.encode()[:limit].decode(errors="ignore"))
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode()) > limit:
            pieces.append(current)
            current = ""
        current += line
    return [p.rstrip("\n") for p in pieces + [current] if p.strip()] or [""]


class Webhook:
    """One group's webhook: its own queue and window."""

    def __init__(self, group: str, key: str, url: str, per_minute: int, window: float, timeout: float):
        self.group, self.key, self.url = group, key, url
        self.per_minute, self.window, self.timeout = per_minute, window, timeout
        self._answered: deque[float] = deque(maxlen=per_minute)
        self._lock = asyncio.Lock()
        self.posted = 0  # messages WeCom accepted (for logs and tests)

    async def _turn(self) -> None:
        loop = asyncio.get_running_loop()
        if len(self._answered) == self.per_minute and (wait := self._answered[0] + self.window - loop.time()) > 0:
            log.info("wecom: webhook of %s: %d sent in the last window, next in %.1fs", self.group, self.per_minute, wait)
            await asyncio.sleep(wait)

    async def send(self, client: httpx.AsyncClient, text: str, mentions: tuple[str, ...]) -> None:
        async with self._lock:
            for i, piece in enumerate(chunks(text)):
                content: dict = {"content": piece}
                if mentions and i == 0:
                    content["mentioned_list"] = list(mentions)
                await self._post(client, {"msgtype": "text", "text": content})

    async def _post(self, client: httpx.AsyncClient, body: dict) -> None:
        what = f"webhook of group {self.group}"
        for attempt in range(1, FLOOD_TRIES + 1):
            await self._turn()
            answer = await self._call(client, body, what)
            self._answered.append(asyncio.get_running_loop().time())
            code = int(answer.get("errcode", -1))
            if code == 0:
                self.posted += 1
                return
            if code not in FREQUENCY_LIMITS or attempt == FLOOD_TRIES:
                raise error_for(code, answer.get("errmsg", ""), what, self.window)
            # Someone else used this webhook too: the window is full, wait it out and post again.
            log.warning("wecom: %s: WeCom's frequency limit (errcode %d); waiting %.1fs", what, code, self.window)
            self._answered.extend([asyncio.get_running_loop().time()] * self.per_minute)

    async def _call(self, client: httpx.AsyncClient, body: dict, what: str) -> dict:
        try:
            response = await client.post(self.url, params={"key": self.key}, json=body, timeout=self.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise PlatformError(f"wecom: {what}: cannot reach WeCom ({type(exc).__name__})", retryable=True) from None
        except httpx.TimeoutException:
            raise MaybeDelivered(f"wecom: {what}: no answer in {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise MaybeDelivered(f"wecom: {what}: the connection failed during the post ({type(exc).__name__})") from None
        if response.status_code == 429:
            raise FloodError(self.window, f"wecom: {what}: HTTP 429")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PlatformError(f"wecom: {what}: HTTP {response.status_code} without a WeCom answer", retryable=response.status_code >= 500)
        return answer


class Webhooks:
    """Every configured group's webhook, sharing one HTTP client."""

    def __init__(self, keys: dict[str, str], url: str, per_minute: int, window: float, timeout: float):
        self.hooks = {group: Webhook(group, key, url, per_minute, window, timeout) for group, key in keys.items()}
        self._client: httpx.AsyncClient | None = None

    def has(self, group: str) -> bool:
        return group in self.hooks

    async def send(self, group: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        await self.hooks[group].send(self._client, text, mentions)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
