"""Puppet-service events → neutral events, and what the adapter remembers about rooms.

A message event carries only an id: the message, its room (owner, members) and the talker's name are
fetched with MessagePayload, RoomPayload and RoomMemberPayload. Rooms are cached for a while and dropped
when a join, leave, topic change or "dirty" event says they changed.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.adapters.wechat.client import PuppetClient
from bot.adapters.wechat.config import WechatConfig
from bot.adapters.wechat.protocol import MESSAGE_TYPES
from bot.model import Event, MemberJoined, MemberLeft, MessageReceived

log = logging.getLogger(__name__)

PLATFORM = "wechat"
URL = re.compile(r"https?://|www\.", re.IGNORECASE)

# Puppet message types → neutral kinds. A shared contact card or mini program advertises something
# like a link does; stickers are images; voice and video are files. Others (recalled, transfers,
# locations, chat histories, unknown) are skipped.
KINDS = {"text": "text", "url": "link", "mini_program": "link", "contact": "link", "image": "image", "emoticon": "image",
         "attachment": "file", "video": "file", "audio": "file", "red_envelope": "red_packet"}


@dataclass(frozen=True)
class Room:
    id: str
    topic: str
    owner: str
    admins: frozenset[str]
    members: frozenset[str]


class Rooms:
    """Room payloads and member names, cached for ``ttl`` seconds."""

    def __init__(self, client: PuppetClient, ttl: float):
        self.client, self.ttl = client, ttl
        self._rooms: dict[str, tuple[float, Room]] = {}
        self._names: dict[tuple[str, str], str] = {}

    def known(self, room_id: str) -> Room | None:
        """The last room payload seen, however old (for the synchronous capability check)."""
        entry = self._rooms.get(room_id)
        return entry[1] if entry else None

    async def get(self, room_id: str, fresh: bool = False) -> Room:
        entry = self._rooms.get(room_id)
        if entry and not fresh and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        p = await self.client.call("RoomPayload", id=room_id)
        room = Room(p.id or room_id, p.topic, p.owner_id, frozenset(p.admin_ids), frozenset(p.member_ids))
        self._rooms[room_id] = (time.monotonic(), room)
        return room

    def forget(self, room_id: str) -> None:
        entry = self._rooms.get(room_id)
        if entry:  # keep it for known(), but fetch it again next time
            self._rooms[room_id] = (float("-inf"), entry[1])

    def forget_name(self, room_id: str, user: str) -> str:
        """Drop a member's cached name; returns it ("" when none was cached)."""
        return self._names.pop((room_id, user), "")

    async def name(self, room_id: str, user: str) -> str:
        """The member's group nickname, else their WeChat name, else their id."""
        key = (room_id, user)
        if key not in self._names:
            member = await self.client.call("RoomMemberPayload", id=room_id, member_id=user) if room_id else None
            name = member.room_alias or member.name if member else ""
            if not name:
                name = (await self.client.call("ContactPayload", id=user)).name
            if len(self._names) > 50_000:  # a bound, not an LRU: names are cheap to fetch again
                self._names.clear()
            self._names[key] = name or user
        return self._names[key]


class Translator:
    def __init__(self, client: PuppetClient, rooms: Rooms, config: WechatConfig):
        self.client, self.rooms, self.config = client, rooms, config
        self.self_id = ""

    def role(self, room: Room, user: str) -> str:
        if user == room.owner:
            return "owner"
        admins = set(self.config.admins.get("*", ())) | set(self.config.admins.get(room.id, ())) | room.admins
        return "admin" if user in admins else "member"

    async def message(self, message_id: str) -> MessageReceived | None:
        return await self.message_from(await self.client.call("MessagePayload", id=message_id))

    async def message_from(self, p) -> MessageReceived | None:
        """The neutral event for a MessagePayload answer; None for what plugins never see."""
        if not p.talker_id or p.talker_id == self.self_id:
            return None  # the bot's own message (or a system line without a talker)
        kind = KINDS.get(MESSAGE_TYPES.get(p.type, "unknown"))
        if kind is None:
            log.debug("wechat: message %s of type %s skipped", p.id, MESSAGE_TYPES.get(p.type, p.type))
            return None
        if kind == "text" and URL.search(p.text):
            kind = "link"
        at = _time(p.receive_time.seconds * 1000 + p.receive_time.nanos // 1_000_000 if p.HasField("receive_time") else 0)
        # A picture is fetched by its message id (MessageImage); stickers (emoticons) are not pictures
        # the puppet service hands out.
        images = (p.id,) if MESSAGE_TYPES.get(p.type) == "image" and p.id else ()
        # Some puppets put a picture's raw XML (CDN keys, sizes) in its text: not words the member wrote, and
        # full of numbers an ad scan would misread; a picture's words come from reading the picture.
        text = "" if kind == "image" else p.text
        common = dict(at=at, platform=PLATFORM, user=p.talker_id, id=p.id, text=text, kind=kind,
                      mentions=tuple(p.mention_ids), images=images)
        if not p.room_id:
            if not self.config.direct_chats:
                return None
            name = await self.rooms.name("", p.talker_id)
            return MessageReceived(**common, group=p.talker_id, name=name, role="member")
        room = await self.rooms.get(p.room_id)
        name = await self.rooms.name(p.room_id, p.talker_id)
        return MessageReceived(**common, group=p.room_id, name=name, role=self.role(room, p.talker_id))

    async def joined(self, payload: dict) -> list[Event]:
        room_id, users, at, inviter = room_change(payload, "inviteeIdList")
        self.rooms.forget(room_id)
        events: list[Event] = []
        for user in users:
            if user == self.self_id:
                log.info("wechat: the bot was added to room %s", room_id)
                continue
            self.rooms.forget_name(room_id, user)
            events.append(MemberJoined(at=at, platform=PLATFORM, group=room_id, user=user,
                                       name=await self.rooms.name(room_id, user), inviter=inviter))
        return events

    async def left(self, payload: dict) -> list[Event]:
        room_id, users, at, _ = room_change(payload, "removeeIdList")
        self.rooms.forget(room_id)
        events: list[Event] = []
        for user in users:
            if user == self.self_id:
                log.warning("wechat: the bot was removed from room %s", room_id)
                continue
            name = self.rooms.forget_name(room_id, user) or await self._contact_name(user)
            events.append(MemberLeft(at=at, platform=PLATFORM, group=room_id, user=user, name=name))
        return events

    def topic(self, payload: dict) -> None:
        """WeChat reports topic changes; the neutral model has no event for them, so the room is refreshed."""
        log.info("wechat: room %s renamed %r -> %r by %s", payload.get("roomId"), payload.get("oldTopic"),
                 payload.get("newTopic"), payload.get("changerId"))
        self.rooms.forget(payload["roomId"])

    async def _contact_name(self, user: str) -> str:
        try:
            return (await self.client.call("ContactPayload", id=user)).name or user
        except Exception:  # a member who left may be unknown to the service: the id will do
            return user


class MalformedPayload(ValueError):
    """A room event payload without the shape the puppet-service protocol gives it; logged and skipped."""


def room_change(payload, users_key: str) -> tuple[str, list[str], datetime, str | None]:
    """``(room id, user ids, time, inviter)`` of a room_join / room_leave payload. Checked before anything
    is looked up, so that a payload with a number for a room or a string for a list (which would
    otherwise be read as one user per character) is refused as a whole."""
    if not isinstance(payload, dict):
        raise MalformedPayload(f"payload is {type(payload).__name__}, not an object")
    room, users, inviter = payload.get("roomId"), payload.get(users_key) or [], payload.get("inviterId") or None
    if not isinstance(room, str) or not room:
        raise MalformedPayload("roomId missing or not a string")
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise MalformedPayload(f"{users_key} is not a list of ids")
    if inviter is not None and not isinstance(inviter, str):
        raise MalformedPayload("inviterId is not a string")
    return room, users, _time(payload.get("timestamp")), inviter


# Below this, an epoch number is in seconds (1e11 s is the year 5138; 1e11 ms was 1973). Wechaty's puppet
# events say "seconds or milliseconds" depending on the puppet (the mock sends ms, others s), so the unit
# is told from the size, as Wechaty itself does; a seconds value read as ms would date a join to 1970 and
# time a newcomer's quiz out at once.
_SECONDS_BELOW = 1e11


def _time(stamp) -> datetime:
    """Event time from the service's timestamp, in seconds or milliseconds; now when it sent none (or nonsense)."""
    try:
        if stamp and float(stamp) > 0:
            value = float(stamp)
            return datetime.fromtimestamp(value if value < _SECONDS_BELOW else value / 1000, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    return datetime.now(timezone.utc)
