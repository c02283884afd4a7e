"""OneBot v11 events → Qunbot's neutral events, and the keys that recognise a repeated event.

Pure functions over the decoded JSON; the connection code decides what to do with the result.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache

from pydantic_core import from_json

from bot.adapters.qq.message import Reading, read, segments_of
from bot.model import Event, JoinRequested, MemberJoined, MemberLeft, MemberRenamed, MessageReceived

PLATFORM = "qq"
ROLES = {"owner": "owner", "admin": "admin"}  # anything else (member, missing, unknown) is a member
MAX_STAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds


class MalformedEvent(ValueError):
    """An event that lacks what its type requires; logged and skipped by the adapter."""


def decode(frame: str | bytes):
    """A frame's JSON, exactly as ``json.loads`` reads it. pydantic-core's parser (pydantic's own dependency)
    takes a third of the time; it refuses some text the standard library accepts (lone surrogates such as
    "\\ud800", nesting beyond a few hundred levels), and those frames, like every one it refuses, are
    decided by ``json.loads`` (which raises for what is not JSON). Bytes go to ``json.loads`` too: it
    also reads UTF-16 and UTF-32."""
    if type(frame) is str:
        try:
            return from_json(frame)
        except (ValueError, TypeError):  # TypeError: a str that cannot be encoded (a raw lone surrogate)
            pass
    return json.loads(frame)


def _id(raw: dict, key: str) -> str:
    value = raw.get(key)
    if type(value) is int:  # the usual case (the exact type leaves bool out)
        return str(value)
    if value is None or isinstance(value, bool) or str(value) == "":
        raise MalformedEvent(f"{raw.get('post_type')} event without {key}")
    return str(value)


def _time(raw: dict) -> datetime:
    """The event's Unix time; now when it is missing or nonsense (NaN, before 1970, beyond year 9999:
    fromtimestamp raises OverflowError, OSError or ValueError for those, which once ended the parse)."""
    stamp = raw.get("time")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and 0 < stamp < MAX_STAMP:
        return _utc(stamp)
    return datetime.now(timezone.utc)


@lru_cache(maxsize=64)
def _utc(stamp: int | float) -> datetime:
    # A busy group's events share their second: the same (immutable) datetime serves them all.
    return datetime.fromtimestamp(stamp, timezone.utc)


def dedupe_key(raw: dict) -> tuple | None:
    """What makes an event the same event when an implementation posts it twice (LLOneBot does) or
    re-sends it after a reconnection; None for events not worth remembering (meta events)."""
    post = raw.get("post_type")
    self_id = str(raw.get("self_id"))
    if post == "message":
        return (self_id, "message", str(raw.get("message_id")))
    if post == "request":
        return (self_id, "request", str(raw.get("flag")))
    if post == "notice":
        # str() throughout: the key is hashed, and a peer may send a list where a string belongs.
        return (self_id, "notice", str(raw.get("notice_type")), str(raw.get("sub_type")), str(raw.get("group_id")),
                str(raw.get("user_id")), str(raw.get("message_id", "")), str(raw.get("time")))
    return None


def to_event(raw: dict) -> Event | None:
    """The neutral event for a group message, join, leave, card change or join request; None for the rest."""
    post, group = raw.get("post_type"), raw.get("group_id")
    if group is None:
        return None  # private messages, friend requests, meta events: not a group's business
    if post == "message" and raw.get("message_type") == "group":
        return _message(raw)
    if post == "notice" and raw.get("notice_type") in ("group_increase", "group_decrease"):
        if str(raw.get("user_id")) == str(raw.get("self_id")):
            return None  # the bot itself joined or was removed: nothing for plugins to greet
        kind = MemberJoined if raw["notice_type"] == "group_increase" else MemberLeft
        # group_increase's operator is the inviter only for sub_type "invite"; for "approve" it is the admin
        # (or the bot) who let the member in, who brought nobody.
        invited = kind is MemberJoined and raw.get("sub_type") == "invite" and raw.get("operator_id")
        extra = {"inviter": str(raw["operator_id"])} if invited and str(raw["operator_id"]) != str(raw.get("user_id")) else {}
        return kind(at=_time(raw), platform=PLATFORM, group=_id(raw, "group_id"), user=_id(raw, "user_id"), **extra)
    if post == "notice" and raw.get("notice_type") == "group_card":
        # A group-card change (an extension NapCat, Lagrange and go-cqhttp send); an empty card means the
        # member went back to their QQ nickname, which this notice does not carry.
        return MemberRenamed(at=_time(raw), platform=PLATFORM, group=_id(raw, "group_id"), user=_id(raw, "user_id"),
                             name=str(raw.get("card_new") or ""))
    if post == "request" and raw.get("request_type") == "group":
        return JoinRequested(at=_time(raw), platform=PLATFORM, group=_id(raw, "group_id"), user=_id(raw, "user_id"),
                             id=_id(raw, "flag"), answer=str(raw.get("comment") or ""))
    return None


def _message(raw: dict) -> MessageReceived:
    reading = _reading(raw.get("message"))
    sender = raw.get("sender")
    if not isinstance(sender, dict):
        sender = {}
    # Plain validation: pydantic-core checks these fields faster than the hand-made shortcut
    # (MessageReceived.from_reading) that once skipped it.
    return MessageReceived.model_validate({
        "at": _time(raw), "platform": PLATFORM, "group": _id(raw, "group_id"), "user": _id(raw, "user_id"),
        "user_name": str(sender.get("card") or sender.get("nickname") or ""),
        "role": ROLES.get(str(sender.get("role")), "member"), "id": _id(raw, "message_id"), "text": reading.text,
        "kind": reading.kind, "mentions": reading.mentions, "reply_to": reading.reply_to, "images": reading.images,
        "files": reading.files,
    })


def _reading(message) -> Reading:
    """``read(segments_of(message))``; most group messages are one text segment, read here without the
    copied segment list and the general loop."""
    if type(message) is list and len(message) == 1:
        segment = message[0]
        if type(segment) is dict and segment.get("type") == "text":
            data = segment.get("data") or {}
            if type(data) is dict:
                return Reading(str(data.get("text", "")).strip(), "text", (), None)
    return read(segments_of(message))
