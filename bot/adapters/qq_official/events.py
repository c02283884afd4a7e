"""Dispatch payloads (op 0, the same over the gateway and the webhook) → Qunbot's neutral events.

Pure functions over the decoded JSON. Identities are the per-bot openids QQ gives (group_openid,
member_openid): the same person has another openid with another bot, and no QQ number is ever seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.model import Event, JoinRequested, MemberJoined, MemberLeft, MessageReceived

PLATFORM = "qq_official"
MESSAGE_TYPES = ("GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE")
# Events about the bot itself in a group; the adapter keeps its view of the group from them.
BOT_TYPES = ("GROUP_ADD_ROBOT", "GROUP_DEL_ROBOT", "GROUP_MSG_RECEIVE", "GROUP_MSG_REJECT")
ROLES = {"owner": "owner", "admin": "admin"}  # anything else is a member
# A mention inside the content: <@member_openid> (also seen as <@!…>); QQ leaves the @-bot out of content.
_MENTION = re.compile(r"<@!?([A-Za-z0-9_-]+)>")


class MalformedEvent(ValueError):
    """A dispatch that lacks what its type requires; logged and skipped by the adapter."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One op 0 payload: its type, data, sequence number (gateway only) and event id."""

    type: str
    data: dict
    seq: int | None = None
    id: str = ""

    @classmethod
    def of(cls, payload: dict) -> "Dispatch":
        data = payload.get("d")
        seq = payload.get("s")
        return cls(str(payload.get("t") or ""), data if isinstance(data, dict) else {},
                   seq if isinstance(seq, int) and not isinstance(seq, bool) else None, str(payload.get("id") or ""))

    @property
    def group(self) -> str:
        return str(self.data.get("group_openid") or "")


def dedupe_key(dispatch: Dispatch) -> tuple | None:
    """What makes two dispatches the same event. A message sent to a group where the bot sees everything
    and that @-mentions it comes twice (GROUP_MESSAGE_CREATE and GROUP_AT_MESSAGE_CREATE), with one id."""
    if dispatch.type in MESSAGE_TYPES:
        return ("message", dispatch.group, str(dispatch.data.get("id")))
    if dispatch.type == "GROUP_JOIN_REQUEST":
        return ("join_request", dispatch.group, str(dispatch.data.get("join_request_id")))
    if dispatch.id:
        return ("event", dispatch.id)
    d = dispatch.data
    return (dispatch.type, dispatch.group, str(d.get("member_openid")), str(d.get("timestamp")))


def to_event(dispatch: Dispatch, bot_ids: frozenset[str] = frozenset()) -> Event | None:
    """The neutral event for a group message, join, leave or join request; None for the rest."""
    if dispatch.type in MESSAGE_TYPES:
        return _message(dispatch.data, bot_ids)
    d = dispatch.data
    if dispatch.type in ("GROUP_MEMBER_ADD", "GROUP_MEMBER_REMOVE"):
        kind = MemberJoined if dispatch.type == "GROUP_MEMBER_ADD" else MemberLeft
        extra = {}
        if kind is MemberJoined and d.get("op_member_openid") and d.get("op_member_openid") != d.get("member_openid"):
            extra["inviter"] = str(d["op_member_openid"])
        return kind(at=_time(d.get("timestamp")), platform=PLATFORM, group=_need(d, "group_openid"),
                    user=_need(d, "member_openid"), name=str(d.get("username") or ""), **extra)
    if dispatch.type == "GROUP_JOIN_REQUEST":
        return JoinRequested(at=_time(d.get("apply_at") or d.get("timestamp")), platform=PLATFORM,
                             group=_need(d, "group_openid"), user=_need(d, "member_openid"),
                             name=str(d.get("username") or ""), id=_need(d, "join_request_id"), answer=answer_of(d))
    return None


def answer_of(data: dict) -> str:
    """The applicant's words: the verify message, and the answers to the group's questions."""
    info = data.get("verify_info")
    if not isinstance(info, dict):
        return str(data.get("verify_message") or "")
    parts = [str(info.get("verify_message") or "")]
    for qa in info.get("review_qa_list") or []:
        if isinstance(qa, dict) and qa.get("answer"):
            parts.append(str(qa["answer"]))
    return "\n".join(p for p in parts if p)


def _message(d: dict, bot_ids: frozenset[str]) -> MessageReceived:
    author = d.get("author") if isinstance(d.get("author"), dict) else {}
    content = str(d.get("content") or "")
    mentions = _MENTION.findall(content)
    for item in d.get("mentions") or []:
        if isinstance(item, dict) and item.get("member_openid"):
            mentions.append(str(item["member_openid"]))
    mentions = list(dict.fromkeys(m for m in mentions if m not in bot_ids))
    return MessageReceived(at=_time(d.get("timestamp")), platform=PLATFORM, group=_need(d, "group_openid"),
                           user=_need(author, "member_openid"), name=str(author.get("username") or ""),
                           role=ROLES.get(str(author.get("member_role")), "member"), id=_need(d, "id"),
                           text=_MENTION.sub("", content).strip(), kind=_kind(d.get("attachments")),
                           mentions=tuple(mentions), images=_pictures(d.get("attachments")))


def _pictures(attachments) -> tuple[str, ...]:
    """The download URLs of the picture attachments (the API sometimes gives them without a scheme)."""
    found = []
    for item in attachments or []:
        if isinstance(item, dict) and str(item.get("content_type") or "").startswith("image") and item.get("url"):
            url = str(item["url"])
            found.append(url if url.startswith(("http://", "https://")) else f"https://{url.lstrip('/')}")
    return tuple(found)


def _kind(attachments) -> str:
    for item in attachments or []:
        if isinstance(item, dict):
            return "image" if str(item.get("content_type") or "").startswith("image") else "file"
    return "text"


def _need(data: dict, key: str) -> str:
    value = data.get(key)
    if value is None or isinstance(value, (bool, dict, list)) or str(value) == "":
        raise MalformedEvent(f"no {key}")
    return str(value)


def _time(value) -> datetime:
    """RFC 3339 text (messages) or Unix seconds (group events); now when missing or nonsense."""
    try:
        if isinstance(value, str) and not value.isdigit():
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
        if value is not None and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    return datetime.now(timezone.utc)
