"""The WebSocket gateway (interface-framework/event-emit.md, reference.md, error-trace/websocket.md).

Hello (op 10) gives the heartbeat interval; Identify (op 2, with intents) starts a session, READY names
it; Heartbeat (op 1) carries the last sequence number handled; after a drop, Resume (op 6) with the
session id and that number makes the gateway send what was missed, then RESUMED. Reconnect (op 7) asks
us to reconnect and resume; Invalid Session (op 9) and some close codes mean the session is gone and a
new Identify is needed. A dispatch's sequence number counts as handled once ``on_dispatch`` returned
(the adapter has queued it), so a resume never skips an event the adapter did not take.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bot.adapters.base import AdapterStartError, PlatformError
from bot.adapters.qq_official.api import OpenApi

log = logging.getLogger(__name__)

OnDispatch = Callable[[dict], Awaitable[None]]
FIRST_BACKOFF = 0.5
# Close codes after which the session cannot be resumed (a new Identify is needed) …
NEW_SESSION_CODES = frozenset({4006, 4007, *range(4900, 4914)})
# … and after which connecting again is pointless until the operator acts (bad intents, bot banned).
FATAL_CODES = frozenset({4001, 4002, 4010, 4011, 4012, 4013, 4014, 4914, 4915})


class SessionEnded(Exception):
    """The connection ended; ``resume`` says whether the session may be resumed."""

    def __init__(self, why: str, resume: bool = True, fatal: bool = False):
        super().__init__(why)
        self.resume, self.fatal = resume, fatal


class Gateway:
    def __init__(self, api: OpenApi, intents: int, on_dispatch: OnDispatch, reconnect_max: float):
        self.api, self.intents, self.on_dispatch, self.reconnect_max = api, intents, on_dispatch, reconnect_max
        self.session_id: str | None = None
        self.seq: int | None = None
        self.bot_user: dict = {}
        self.connects = self.resumes = 0  # for logs and tests
        self.live = False  # the current connection reached READY or RESUMED

    async def run(self, started: asyncio.Future) -> None:
        """Connect, and connect again after every drop, until cancelled. ``started`` resolves at the
        first READY, or fails with AdapterStartError when the first attempt cannot succeed."""
        delay = FIRST_BACKOFF
        while True:
            self.live = False
            try:
                await self._session(started)
            except SessionEnded as end:
                if end.fatal and not started.done():
                    started.set_exception(AdapterStartError(f"QQ official gateway: {end}"))
                    return
                if not end.resume:
                    self.session_id, self.seq = None, None
                log.log(logging.ERROR if end.fatal else logging.WARNING, "QQ official gateway: %s; %s",
                        end, "resuming" if self.session_id else "identifying again")
            except (OSError, InvalidHandshake, InvalidURI, PlatformError, TimeoutError, KeyError) as exc:
                if not started.done():
                    started.set_exception(AdapterStartError(f"QQ official: cannot reach the gateway: {exc!r}"))
                    return
                log.warning("QQ official gateway: connection failed (%r)", exc)
            # A session that got going starts the backoff again; repeated failures wait longer each time.
            delay = FIRST_BACKOFF if self.live else min(delay * 2, self.reconnect_max)
            await asyncio.sleep(delay)

    async def _session(self, started: asyncio.Future) -> None:
        url = (await self.api.call("GET", "/gateway", "gateway address"))["url"]
        async with connect(url, max_size=None, open_timeout=self.api.config.request_timeout) as ws:
            self.connects += 1
            hello = json.loads(await asyncio.wait_for(ws.recv(), self.api.config.request_timeout))
            if hello.get("op") != 10:
                raise SessionEnded(f"expected Hello, got op {hello.get('op')}", resume=False)
            interval = float((hello.get("d") or {}).get("heartbeat_interval") or 45000) / 1000
            await ws.send(json.dumps(await self._login()))
            acked = asyncio.Event()
            beat = asyncio.create_task(self._heartbeat(ws, interval, acked))
            try:
                await self._read(ws, acked, started)
            except ConnectionClosed as closed:
                raise _ended(closed) from None
            finally:
                beat.cancel()

    async def _login(self) -> dict:
        token = await self.api.authorization()
        if self.session_id:
            return {"op": 6, "d": {"token": token, "session_id": self.session_id, "seq": self.seq or 0}}
        return {"op": 2, "d": {"token": token, "intents": self.intents, "shard": [0, 1],
                               "properties": {"$os": "linux", "$browser": "qunbot", "$device": "qunbot"}}}

    async def _heartbeat(self, ws, interval: float, acked: asyncio.Event) -> None:
        """Beat every ``interval`` seconds with the last sequence number; a beat left unanswered until the
        next one means the connection is dead although TCP has not noticed: close it (then resume)."""
        acked.set()
        while True:
            await asyncio.sleep(interval)
            if not acked.is_set():
                log.warning("QQ official gateway: no heartbeat ACK in %.0fs; reconnecting", interval)
                await ws.close(4009, "heartbeat not acknowledged")
                return
            acked.clear()
            await ws.send(json.dumps({"op": 1, "d": self.seq}))

    async def _read(self, ws, acked: asyncio.Event, started: asyncio.Future) -> None:
        async for frame in ws:
            try:
                payload = json.loads(frame)
            except ValueError:
                log.warning("QQ official gateway: skipped a frame that is not JSON")
                continue
            op = payload.get("op") if isinstance(payload, dict) else None
            if op == 11:
                acked.set()
            elif op == 1:  # the server asks for a beat now
                await ws.send(json.dumps({"op": 1, "d": self.seq}))
            elif op == 7:
                raise SessionEnded("the server asked for a reconnection (op 7)")
            elif op == 9:
                raise SessionEnded("invalid session (op 9)", resume=False)
            elif op == 0:
                await self._dispatch(payload, started)
        raise SessionEnded("the server closed the connection")

    async def _dispatch(self, payload: dict, started: asyncio.Future) -> None:
        kind, seq = payload.get("t"), payload.get("s")
        if kind == "READY":
            data = payload.get("d") or {}
            self.session_id, self.bot_user = str(data.get("session_id") or ""), data.get("user") or {}
            log.info("QQ official gateway: ready as %s (session %s)", self.bot_user.get("username", "?"), self.session_id)
        elif kind == "RESUMED":
            self.resumes += 1
            log.info("QQ official gateway: session resumed after sequence %s", self.seq)
        else:
            await self.on_dispatch(payload)
        if isinstance(seq, int):
            self.seq = seq
        if kind in ("READY", "RESUMED"):
            self.live = True
            if not started.done():
                started.set_result(None)


def _ended(closed: ConnectionClosed) -> SessionEnded:
    code = closed.rcvd.code if closed.rcvd is not None else None
    why = f"connection closed ({code}{': ' + closed.rcvd.reason if closed.rcvd and closed.rcvd.reason else ''})"
    if code in FATAL_CODES:
        return SessionEnded(why + " — fix the configuration or the bot's standing on q.qq.com", resume=False, fatal=True)
    return SessionEnded(why, resume=code not in NEW_SESSION_CODES)
