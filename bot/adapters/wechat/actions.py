"""Neutral actions → puppet-service calls: sends with real mentions, paced for the whole account, and
removals from rooms the bot owns, confirmed in the room's member list.

Everything else WeChat cannot do (mute, delete others' messages, set nicknames, decide join requests)
is not declared as a capability, so the outbox turns it into the fallback of DESIGN.md before it gets here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

import grpc

from bot.adapters.base import FloodError, MaybeDelivered, PlatformError
from bot.adapters.wechat.client import PuppetClient, first_line, transient
from bot.adapters.wechat.config import WechatConfig
from bot.adapters.wechat.events import Rooms
from bot.adapters.wechat.protocol import PAYLOAD_ROOM
from bot.model import Action, KickMember, SendMessage

log = logging.getLogger(__name__)

ACCOUNT_WINDOW_SECONDS = 60.0
# WeChat separates an @mention from what follows with a four-per-em space; clients highlight it.
MENTION_END = "\u2005"
FLOOD_WAIT_SECONDS = 10.0


class Performer:
    def __init__(self, client: PuppetClient, rooms: Rooms, config: WechatConfig, self_id: Callable[[], str],
                 report: Callable[[str], None]):
        self.client, self.rooms, self.config = client, rooms, config
        self.self_id, self.report = self_id, report
        self._sent: deque[float] = deque(maxlen=config.account_per_minute)
        self._lock = asyncio.Lock()

    async def perform(self, action: Action) -> None:
        try:
            if isinstance(action, SendMessage):
                await self.send(action)
            elif isinstance(action, KickMember):
                await self.kick(action)
            else:
                raise PlatformError(f"wechat cannot {action.name} (no fallback reached the adapter)")
        except grpc.aio.AioRpcError as exc:
            raise platform_error(exc) from None

    async def _pace(self) -> None:
        """At most ``account_per_minute`` sends a minute across all rooms, by waiting."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            sent = self._sent
            if len(sent) == sent.maxlen and (wait := sent[0] + ACCOUNT_WINDOW_SECONDS - loop.time()) > 0:
                log.info("wechat: account pace, next send in %.1fs", wait)
                await asyncio.sleep(wait)
            sent.append(loop.time())

    async def send(self, action: SendMessage) -> None:
        text = action.text
        mentions = [m for m in dict.fromkeys(action.mentions) if m]
        if mentions and (action.group.endswith("@chatroom") or self.rooms.known(action.group)):
            names = [await self.rooms.name(action.group, user) for user in mentions]
            text = "".join(f"@{name}{MENTION_END}" for name in names) + text
        else:
            mentions = []  # a direct chat has nobody to mention (room ids end in "@chatroom" on WeChat)
        await self._pace()
        await self.client.call("MessageSendText", conversation_id=action.group, text=text, mentional_ids=mentions)
        for attachment in filter(None, (action.image, action.file)):
            self.report(f"wechat: {action.group}: {attachment} was not sent "
                        f"(this adapter sends text only); the text was ({action.plugin}/{action.reason})")

    async def kick(self, action: KickMember) -> None:
        room = await self.rooms.get(action.group, fresh=True)
        if room.owner != self.self_id():
            raise PlatformError(f"the bot does not own room {room.id} (the owner is {room.owner or 'unknown'}); "
                                "only the owner can remove members")
        if action.user == room.owner or action.user in room.admins or action.user in self.config.admins.get("*", ()) \
                or action.user in self.config.admins.get(room.id, ()):
            raise PlatformError(f"{action.user} is an owner or admin of room {room.id}; not removed")
        if action.user not in room.members:
            log.info("wechat: %s is no longer in room %s; nothing to remove", action.user, room.id)
            return
        await self.client.call("RoomDel", id=room.id, contact_id=action.user)
        await self._confirm_removed(room.id, action.user)

    async def _confirm_removed(self, room_id: str, user: str) -> None:
        """A service may answer ok without acting (the 1.x setters did): check the member list."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.confirm_seconds
        delay = 0.1
        while True:
            await self.client.call("DirtyPayload", type=PAYLOAD_ROOM, id=room_id)
            if user not in (await self.rooms.get(room_id, fresh=True)).members:
                log.info("wechat: removed %s from room %s", user, room_id)
                return
            if loop.time() >= deadline:
                raise PlatformError(f"the service accepted the removal of {user} from room {room_id}, "
                                    f"but after {self.config.confirm_seconds:g}s they are still a member")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _never_connected(details: str) -> bool:
    """grpc's wording when no connection could be made, so the call never left (grpc core and grpc-js)."""
    lowered = details.lower()
    return any(words in lowered for words in ("failed to connect", "connection refused", "no connection", "dns resolution"))


def platform_error(exc: grpc.aio.AioRpcError) -> PlatformError:
    code, details = exc.code(), first_line(exc.details())
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return FloodError(FLOOD_WAIT_SECONDS, f"wechat: the service asked to slow down ({details})")
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return PlatformError(f"wechat: the service refused the token ({code.name})")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or (code == grpc.StatusCode.UNAVAILABLE and not _never_connected(details)):
        # The call was on the wire when the answer stopped coming: it may have been carried out.
        return MaybeDelivered(f"wechat: {code.name} after the call was sent: {details}")
    return PlatformError(f"wechat: {code.name}: {details}", retryable=transient(exc))
