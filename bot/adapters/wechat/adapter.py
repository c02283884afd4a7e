"""The WeChat adapter: the Wechaty puppet-service gRPC protocol, spoken directly (see README, "WeChat").

Connects to the provider's endpoint, starts the puppet, reads its event stream and reconnects with a
backoff from 0.5 s when the stream ends, fails or goes quiet without answering a ding. Each room's events
are handled in order in a lane of their own, so a slow answer about one room does not hold up the others;
an event the service delivers again (a message id, a join or leave already seen) is skipped. The only
module tree that imports grpc.
"""

from __future__ import annotations

import asyncio
import logging
import os

import grpc

from bot.adapters import wire
from bot.adapters.base import AdapterStartError, EventSink, PlatformError
from bot.adapters.lanes import Lanes, Seen
from bot.adapters.wechat.actions import Performer
from bot.adapters.wechat.client import PuppetClient, first_line, transient
from bot.adapters.wechat.config import WechatConfig
from bot.adapters.wechat.events import PLATFORM, Rooms, Translator
from bot.adapters.wechat.pictures import fetch_picture
from bot.adapters.wechat.protocol import EVENT, PAYLOAD_ROOM
from bot.model import Action

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
# A lookup for an event that fails because the service is away is tried again after these pauses.
LOOKUP_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)


class StreamLost(Exception):
    """The event stream stopped delivering (ended, failed, or a ding went unanswered)."""


class WechatAdapter:
    platform = PLATFORM

    def __init__(self, config: WechatConfig, environ: dict[str, str] | None = None):
        environ = os.environ if environ is None else environ
        token = environ.get(config.token_env, "").strip()
        if not token:
            raise AdapterStartError(f"wechat: the environment variable {config.token_env} (wechat.token_env) holds no puppet-service token")
        self.config = config
        self.client = PuppetClient(config.endpoint, token, config.tls, config.call_timeout)
        self.rooms = Rooms(self.client, config.room_cache_seconds)
        self.translator = Translator(self.client, self.rooms, config)
        self.performer = Performer(self.client, self.rooms, config, lambda: self.translator.self_id, self._report)
        self.sink: EventSink | None = None
        self._last_event = 0.0
        self._lost = ""  # why the watchdog ended the current stream
        self._delivered = False  # whether the current stream delivered anything
        self.seen = Seen()  # keys of recent events, kept across reconnections
        self.lanes = Lanes("wechat room")

    def capabilities(self, group: str) -> frozenset[str]:
        room = self.rooms.known(group)
        # Only the owner of a room can remove members; elsewhere a kick becomes the outbox's warning.
        if room is not None and self.translator.self_id and room.owner == self.translator.self_id:
            return frozenset({"send", "kick"})
        return frozenset({"send"})

    def owner_of(self, group: str) -> str | None:
        """The room's owner, whom a fallback for a removal the bot cannot make mentions."""
        room = self.rooms.known(group)
        return room.owner if room is not None and room.owner else None

    async def perform(self, action: Action) -> None:
        await self.performer.perform(action)

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:
        """A picture message's bytes (``reference`` is the message id): MessageImage, then the box's
        bytes (bot/adapters/wechat/pictures.py). Runs in the picture reader, never in a room's lane."""
        if self.client.channel is None:
            raise PlatformError("wechat adapter is not connected", retryable=True)
        return await fetch_picture(self.client, reference, max_bytes, self.config.call_timeout)

    def _report(self, text: str) -> None:
        if self.sink is not None:
            self.sink.report(text)
        else:
            log.warning("%s", text)

    # ------------------------------------------------------------------ connecting

    async def connect(self) -> None:
        """Open the channel and start the puppet; raises AdapterStartError naming the problem."""
        self.client.open()
        try:
            await self.client.call("Start")
        except grpc.aio.AioRpcError as exc:
            await self.client.close()
            where = self.config.endpoint
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise AdapterStartError(f"wechat: the puppet service at {where} refused the token in {self.config.token_env}") from None
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise AdapterStartError(f"wechat: cannot reach the puppet service at {where} ({exc.code().name})") from None
            raise AdapterStartError(f"wechat: the puppet service at {where} refused to start: {first_line(exc.details())}") from None
        log.info("wechat: connected to the puppet service at %s", self.config.endpoint)

    async def run(self, sink: EventSink) -> None:
        self.sink = sink
        if self.client.channel is None:
            await self.connect()
        backoff = FIRST_BACKOFF_SECONDS
        try:
            while True:
                try:
                    await self._stream()
                    reason = "the event stream ended"
                except StreamLost as exc:
                    reason = str(exc)
                except grpc.aio.AioRpcError as exc:
                    reason = f"{exc.code().name}: {first_line(exc.details())}"
                if self._delivered:  # the stream worked: this is a new outage, start the backoff over
                    backoff = FIRST_BACKOFF_SECONDS
                log.warning("wechat: connection lost (%s); reconnecting in %.1fs", reason, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_seconds)
        finally:
            await self.lanes.stop()
            await self.client.close()

    async def _stream(self) -> None:
        """Read one event stream until it ends. The puppet is started again on every connection: a
        restarted service comes back with its puppet stopped (starting a running one does nothing)."""
        call = self.client.events()
        self._lost, self._delivered = "", False
        self._last_event = asyncio.get_running_loop().time()
        watchdog = asyncio.create_task(self._watch(call))
        try:
            await self.client.call("Start")
            async for response in call:
                self._last_event, self._delivered = asyncio.get_running_loop().time(), True
                await self._dispatch(EVENT.get(response.type, str(response.type)), response.payload)
        except asyncio.CancelledError:
            if self._lost:  # the watchdog cancelled the call, not someone cancelling us
                raise StreamLost(self._lost) from None
            raise
        finally:
            watchdog.cancel()
            call.cancel()

    async def _watch(self, call) -> None:
        """After ``idle_seconds`` without events, ding the service; no answer ends the stream."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.idle_seconds / 2)
            if loop.time() - self._last_event < self.config.idle_seconds:
                continue
            try:
                await self.client.call("Ding", data="qunbot", timeout=min(10.0, self.config.call_timeout))
            except grpc.aio.AioRpcError as exc:
                self._lost = f"no events for {self.config.idle_seconds:g}s and the ding failed ({exc.code().name})"
                call.cancel()
                return
            self._last_event = loop.time()

    # ------------------------------------------------------------------ events

    async def _dispatch(self, kind: str, raw: str) -> None:
        """Decode one stream event and queue it in its room's lane. A message names only its id: its
        payload (which names the room) is fetched here, the rest of the work happens in the lane."""
        try:
            payload = wire.loads(raw) if raw else {}
        except wire.Unreadable as exc:  # a RecursionError here once took a traceback to say the same
            log.warning("wechat: skipped a %s event whose payload cannot be read (%s): %s", kind, exc, wire.excerpt(raw))
            return
        try:
            payload = payload if isinstance(payload, dict) else {}
            if kind == "message":
                message = await self.client.call("MessagePayload", id=payload["messageId"])
                key, room = ("message", message.id or payload["messageId"]), message.room_id or message.talker_id
                work = lambda: self.translator.message_from(message)  # noqa: E731
            elif kind in ("room_join", "room_leave"):
                key, room = _membership_key(kind, payload), payload["roomId"]
                work = lambda: self._translate(kind, payload)  # noqa: E731
            else:
                await self._translate(kind, payload)
                return
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED):
                raise  # the connection itself is gone: reconnect
            log.warning("wechat: %s event skipped: the service refused a lookup (%s: %s)", kind, exc.code().name, first_line(exc.details()))
            return
        except Exception:
            log.exception("wechat: malformed %s event skipped: %.200r", kind, raw)
            return
        if not self.seen.first_time(key):
            log.info("wechat: %s %s delivered again; skipped", kind, key[1])
            return
        self.lanes.submit(room, lambda: self._handle(kind, work))

    async def _handle(self, kind: str, work) -> None:
        """Translate (with the lookups that may take a while) and hand the events to the sink."""
        found = await self._lookup(kind, work)  # a message gives one event or None, a join or leave a list
        events = found if isinstance(found, list) else [found] if found else []
        for event in events:
            try:
                await self.sink.handle_and_send(event)
            except Exception:  # a store or plugin failure must not end the stream
                log.exception("wechat: %s could not be handled", event.name)

    async def _lookup(self, kind: str, work):
        """``work()``, tried again while the service is unreachable (restarting: back within seconds) so
        the event is not lost; a refusal, or a service still away after the tries, skips it with a warning."""
        for delay in (*LOOKUP_RETRY_SECONDS, None):
            try:
                return await work()
            except grpc.aio.AioRpcError as exc:
                if delay is None or not transient(exc):
                    log.warning("wechat: %s event skipped: a lookup failed (%s: %s)", kind, exc.code().name, first_line(exc.details()))
                    return None
                log.info("wechat: a lookup for a %s event failed (%s); trying again in %gs", kind, exc.code().name, delay)
                await asyncio.sleep(delay)
            except Exception:
                log.exception("wechat: malformed %s event skipped", kind)
                return None

    async def _translate(self, kind: str, payload: dict) -> list:
        t = self.translator
        if kind == "room_join":
            return await t.joined(payload)
        if kind == "room_leave":
            return await t.left(payload)
        if kind == "room_topic":
            t.topic(payload)
        elif kind == "login":
            t.self_id = payload["contactId"]
            log.info("wechat: logged in as %s", t.self_id)
        elif kind == "logout":
            self._report(f"wechat: the account {payload.get('contactId', '')} logged out ({payload.get('data', '')}); "
                         "log in again at the puppet-service provider")
        elif kind == "scan":
            self._report("wechat: the puppet service waits for a QR-code login; scan it at the provider")
        elif kind == "error":
            log.warning("wechat: the service reported an error: %.300s", payload.get("data", payload))
        elif kind == "dirty" and payload.get("payloadType") == PAYLOAD_ROOM:
            self.rooms.forget(str(payload.get("payloadId", "")))
        return []


def _membership_key(kind: str, payload: dict) -> tuple:
    """What makes a join or leave the same one when delivered again: room, people, who, and when."""
    people = payload.get("inviteeIdList") if kind == "room_join" else payload.get("removeeIdList")
    by = payload.get("inviterId") if kind == "room_join" else payload.get("removerId")
    return (kind, payload["roomId"], tuple(people or ()), by, payload.get("timestamp"))
