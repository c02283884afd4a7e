"""One long connection of the AI bot (智能机器人长连接), spoken with ``websockets``.

Frames are JSON ``{cmd, headers: {req_id}, body}``. We subscribe (``aibot_subscribe`` with bot id and
secret), ping every ``ping_seconds``, receive ``aibot_msg_callback`` / ``aibot_event_callback``, answer a
callback with ``aibot_respond_msg`` under the callback's own ``req_id``, and start messages with
``aibot_send_msg``. WeCom answers each frame we send with ``{headers: {req_id}, errcode, errmsg}``.

WeCom keeps one connection per bot: when another one subscribes, the older connection gets a
``disconnected_event`` and is closed. That is reported as ``Displaced``, and the adapter does not
reconnect: two processes reconnecting in turn would each push the other off, for ever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from typing import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.adapters.base import MaybeDelivered, PlatformError
from bot.adapters.wecom.errors import describe, error_for

log = logging.getLogger(__name__)

CALLBACK, EVENT = "aibot_msg_callback", "aibot_event_callback"
MISSED_PINGS = 2  # unanswered pings in a row after which the connection counts as dead

Handler = Callable[[str, str, dict], Awaitable[None]]  # (cmd, req_id, body)


class Refused(Exception):
    """WeCom refused the subscription (wrong bot id or secret …)."""


class Displaced(Exception):
    """Another connection subscribed with this bot id and WeCom closed ours."""


def new_req_id(cmd: str) -> str:
    return f"{cmd}_{uuid.uuid4().hex}"


class LongConnection:
    def __init__(self, url: str, bot_id: str, secret: str, ping_seconds: float, timeout: float, on_callback: Handler):
        self.url, self.bot_id, self._secret = url, bot_id, secret
        self.ping_seconds, self.timeout, self.on_callback = ping_seconds, timeout, on_callback
        self.ws: ClientConnection | None = None
        self.displaced = False
        self.frames = 0  # callbacks received on the current connection
        self._pending: dict[str, asyncio.Future] = {}
        self._turns: dict[str, asyncio.Lock] = {}  # one frame in flight per req_id
        self._users: defaultdict[str, int] = defaultdict(int)  # callers of each lock, to drop it after

    @property
    def connected(self) -> bool:
        return self.ws is not None

    async def open(self) -> None:
        """Connect and subscribe; raises Refused, or OSError / TimeoutError / websockets' errors."""
        ws = await asyncio.wait_for(connect(self.url, ping_interval=None, max_size=2**22, open_timeout=self.timeout), self.timeout)
        req_id = new_req_id("aibot_subscribe")
        await ws.send(json.dumps({"cmd": "aibot_subscribe", "headers": {"req_id": req_id},
                                  "body": {"bot_id": self.bot_id, "secret": self._secret}}))
        try:
            answer = json.loads(await asyncio.wait_for(ws.recv(), self.timeout))
        except BaseException:
            await ws.close()
            raise
        if answer.get("errcode") != 0:
            await ws.close()
            raise Refused(describe(answer.get("errcode", -1), answer.get("errmsg", "")))
        self.ws, self.frames, self.displaced = ws, 0, False

    async def serve(self) -> str:
        """Read frames until the connection ends; returns why. Raises Displaced when pushed off."""
        ws = self.ws
        pinger = asyncio.create_task(self._ping(ws))
        try:
            async for raw in ws:
                await self._dispatch(raw)
            reason = f"closed by WeCom ({ws.close_code})"
        except ConnectionClosed as exc:
            reason = f"connection lost ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            pinger.cancel()
            self.ws = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the long connection closed"))
            self._pending.clear()
        if self.displaced:
            raise Displaced()
        return reason

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _dispatch(self, raw) -> None:
        try:
            frame = json.loads(raw)
            cmd, req_id = frame.get("cmd"), str((frame.get("headers") or {}).get("req_id", ""))
        except (ValueError, AttributeError):
            log.warning("wecom: a frame that is not JSON skipped: %.200r", raw)
            return
        if cmd in (CALLBACK, EVENT):
            body = frame.get("body") or {}
            if cmd == EVENT and (body.get("event") or {}).get("eventtype") == "disconnected_event":
                self.displaced = True  # WeCom closes the connection next
                return
            self.frames += 1
            await self.on_callback(cmd, req_id, body)
        elif req_id in self._pending:
            future = self._pending.pop(req_id)
            if not future.done():
                future.set_result(frame)
        else:
            log.debug("wecom: an answer nobody waits for: %.200r", raw)

    async def call(self, cmd: str, body: dict | None, req_id: str | None = None, what: str = "") -> dict:
        """Send a frame and wait for WeCom's answer; a refusal becomes the contract's exception."""
        req_id = req_id or new_req_id(cmd)
        what = what or cmd
        # Answers name only the req_id, so one frame per req_id is in flight at a time (several replies
        # to one callback go one after the other).
        lock = self._turns.setdefault(req_id, asyncio.Lock())
        self._users[req_id] += 1
        try:
            async with lock:
                return await self._exchange(cmd, body, req_id, what)
        finally:
            self._users[req_id] -= 1
            if not self._users[req_id]:
                del self._users[req_id], self._turns[req_id]

    async def _exchange(self, cmd: str, body: dict | None, req_id: str, what: str) -> dict:
        ws = self.ws
        if ws is None:
            raise PlatformError(f"wecom: {what}: the long connection is down", retryable=True)
        frame: dict = {"cmd": cmd, "headers": {"req_id": req_id}}
        if body is not None:
            frame["body"] = body
        future = self._pending[req_id] = asyncio.get_running_loop().create_future()
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except ConnectionClosed:
            self._pending.pop(req_id, None)
            raise PlatformError(f"wecom: {what}: the long connection is down", retryable=True) from None
        try:
            answer = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise MaybeDelivered(f"wecom: {what}: no answer in {self.timeout:g}s") from None
        except ConnectionError:
            raise MaybeDelivered(f"wecom: {what}: the connection closed before WeCom answered") from None
        finally:
            self._pending.pop(req_id, None)
        if answer.get("errcode", 0) != 0:
            raise error_for(int(answer["errcode"]), answer.get("errmsg", ""), what)
        return answer

    async def _ping(self, ws: ClientConnection) -> None:
        """Keep-alive; ``MISSED_PINGS`` unanswered pings in a row close the connection (it is dead)."""
        missed = 0
        while True:
            await asyncio.sleep(self.ping_seconds)
            try:
                await self.call("ping", None)
                missed = 0
            except PlatformError as exc:
                missed += 1
                log.info("wecom: ping %d unanswered (%s)", missed, exc)
                if missed >= MISSED_PINGS:
                    log.warning("wecom: %d pings unanswered; closing the long connection", missed)
                    await ws.close()
                    return
