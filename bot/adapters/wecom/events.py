"""AI bot callbacks (long connection and callback mode alike) → neutral events.

In a group WeCom delivers only the messages that @-mention the bot, with the mention in the text
("@机器人 签到"). The mention is stripped, so plugins see what the member meant ("签到", "/top", an
idiom) as if it had been typed bare. WeCom names a sender by userid only, and tells nothing of roles:
admins come from ``[wecom.admins]``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from bot.adapters.wecom.config import WecomConfig
from bot.lru import Recent
from bot.model import MessageReceived

log = logging.getLogger(__name__)

PLATFORM = "wecom"
URL = re.compile(r"https?://|www\.", re.IGNORECASE)
# Callbacks that are members' messages; others (events, stream refreshes) carry none.
MESSAGE_TYPES = {"text", "image", "mixed", "voice", "file", "video"}
# What may separate a mention from the words around it: spaces, and the four-per-em space WeChat-family
# clients put after a mention.
GAP = "[\\s\u2005\u00a0]"
LEADING_MENTION = re.compile(f"^{GAP}*@[^\\s\u2005\u00a0]+{GAP}*")


def strip_mention(text: str, bot_name: str) -> str:
    """``text`` without the @-mention that addressed the bot. With the bot's name known, every "@name"
    goes wherever it is; without it, only a leading mention (WeCom puts it first when the member picks
    the bot from the @ list)."""
    if bot_name:
        stripped = re.sub(f"{GAP}*@{re.escape(bot_name)}(?={GAP}|$){GAP}*", " ", text)
        return stripped.strip(" \t\n\u2005\u00a0")
    return LEADING_MENTION.sub("", text, count=1).strip(" \t\n\u2005\u00a0")


def pictures(body: dict) -> list[tuple[str, str]]:
    """(download URL, aeskey or "") of the pictures in a message body. In a group only a mixed message
    (text and pictures, @-mentioning the bot) carries pictures: WeCom delivers picture-only messages
    from direct chats alone. The URL works for 5 minutes; its file is encrypted (see crypto.py)."""
    if body.get("msgtype") == "image":
        items = [body]
    elif body.get("msgtype") == "mixed":
        items = [i for i in (body.get("mixed") or {}).get("msg_item") or [] if isinstance(i, dict) and i.get("msgtype") == "image"]
    else:
        return []
    found = []
    for item in items:
        image = item.get("image") or {}
        if isinstance(image, dict) and isinstance(image.get("url"), str) and image["url"]:
            found.append((image["url"], str(image.get("aeskey") or "")))
    return found


def _content(body: dict) -> tuple[str, str]:
    """The message's words and neutral kind."""
    msgtype = body.get("msgtype")
    if msgtype == "text":
        text = str((body.get("text") or {}).get("content", ""))
        return text, "link" if URL.search(text) else "text"
    if msgtype == "voice":  # WeCom hands over the transcript
        return str((body.get("voice") or {}).get("content", "")), "text"
    if msgtype == "mixed":
        items = (body.get("mixed") or {}).get("msg_item") or []
        text = " ".join(str((i.get("text") or {}).get("content", "")) for i in items if i.get("msgtype") == "text")
        return text, "image" if any(i.get("msgtype") == "image" for i in items) else "text"
    if msgtype == "image":
        return "", "image"
    return "", "file"  # file, video


class Translator:
    def __init__(self, config: WecomConfig):
        self.config = config
        # Picture URL -> its aeskey (long connection), kept out of the events; bounded: a URL lives 5 minutes.
        self.media_keys: Recent = Recent(2000)

    def role(self, group: str, user: str) -> str:
        admins = self.config.admins
        return "admin" if user in admins.get("*", ()) or user in admins.get(group, ()) else "member"

    def message(self, body: dict) -> MessageReceived | None:
        """The event for a message callback's body, or None for what Qunbot does not serve (direct chats,
        events, stream refreshes)."""
        if body.get("msgtype") not in MESSAGE_TYPES:
            log.debug("wecom: a %s callback skipped", body.get("msgtype"))
            return None
        if body.get("chattype") != "group" or not body.get("chatid"):
            log.info("wecom: a direct message from %s skipped (Qunbot serves groups)", (body.get("from") or {}).get("userid", "?"))
            return None
        group, user = str(body["chatid"]), str((body.get("from") or {})["userid"])
        text, kind = _content(body)
        found = pictures(body)
        for url, aeskey in found:
            if aeskey:
                self.media_keys[url] = aeskey
        created = body.get("create_time")
        at = datetime.fromtimestamp(float(created), timezone.utc) if created else datetime.now(timezone.utc)
        return MessageReceived(at=at, platform=PLATFORM, group=group, user=user, name=user, role=self.role(group, user),
                               id=str(body["msgid"]), text=strip_mention(text, self.config.bot_name), kind=kind,
                               images=tuple(url for url, _ in found))
