"""OneBot v11 messages: the CQ-code string format, segment arrays, and what Qunbot reads from them.

Both formats are reduced to one list of segments (``{"type": …, "data": {…}}``) so the rest of the
adapter never cares which one the implementation was configured to post.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# CQ-code escaping (OneBot v11, message/string.md): text escapes &, [ and ]; parameter values also ",".
_TEXT_ESCAPES = (("&", "&amp;"), ("[", "&#91;"), ("]", "&#93;"))
_CQ = re.compile(r"\[CQ:([A-Za-z0-9_.-]+)((?:,[^\[\]]*)?)\]")

# Segment types some implementations use for a red packet (QQ wallet messages).
RED_PACKET_TYPES = frozenset({"redbag", "red_packet", "hongbao", "wallet"})


class MalformedMessage(ValueError):
    """A message that is neither a CQ-code string nor a list of segments."""


def unescape(text: str, param: bool = False) -> str:
    if param:
        text = text.replace("&#44;", ",")
    for raw, escaped in reversed(_TEXT_ESCAPES):
        text = text.replace(escaped, raw)
    return text


def escape(text: str, param: bool = False) -> str:
    for raw, escaped in _TEXT_ESCAPES:
        text = text.replace(raw, escaped)
    return text.replace(",", "&#44;") if param else text


def parse_cq(message: str) -> list[dict]:
    """Split a CQ-code string into segments; text between codes becomes ``text`` segments."""
    segments: list[dict] = []
    pos = 0
    for match in _CQ.finditer(message):
        if match.start() > pos:
            segments.append({"type": "text", "data": {"text": unescape(message[pos:match.start()])}})
        data: dict[str, str] = {}
        for pair in filter(None, match.group(2).split(",")):
            key, _, value = pair.partition("=")
            data[key] = unescape(value, param=True)
        segments.append({"type": match.group(1), "data": data})
        pos = match.end()
    if pos < len(message):
        segments.append({"type": "text", "data": {"text": unescape(message[pos:])}})
    return segments


def to_cq(segments: list[dict]) -> str:
    """The CQ-code string of ``segments`` (for implementations told to take strings)."""
    parts = []
    for seg in segments:
        data = seg.get("data") or {}
        if seg["type"] == "text":
            parts.append(escape(str(data.get("text", ""))))
        else:
            params = "".join(f",{k}={escape(str(v), param=True)}" for k, v in data.items())
            parts.append(f"[CQ:{seg['type']}{params}]")
    return "".join(parts)


def segments_of(message) -> list[dict]:
    """The segments of a message in either format; raises MalformedMessage otherwise."""
    if isinstance(message, str):
        return parse_cq(message)
    if isinstance(message, list):
        segments, data_ok = [], True
        for seg in message:  # one pass, on every message: the checks and the copy together
            if not isinstance(seg, dict) or not isinstance(kind := seg.get("type"), str):
                break
            data = seg.get("data") or {}
            data_ok = data_ok and isinstance(data, dict)
            segments.append({"type": kind, "data": data})
        else:
            # A segment whose data is not an object (a peer's bug) crashed the reading: refuse the message.
            if not data_ok:
                raise MalformedMessage("a segment's data is not an object")
            return segments
    raise MalformedMessage(f"message is neither a CQ-code string nor a segment list: {type(message).__name__}")


@dataclass(frozen=True, slots=True)
class Reading:
    """What the engine needs from a message: its text, kind, @mentions and the message it answers."""

    text: str
    kind: str
    mentions: tuple[str, ...]
    reply_to: str | None
    images: tuple[str, ...] = ()  # the pictures' download URLs (NapCat, Lagrange and go-cqhttp give ``url``)
    files: tuple[tuple[str, str], ...] = ()  # (name, download URL) of files whose segment carries a ``url``


def read(segments: list[dict]) -> Reading:
    text, mentions, reply_to, kind, images, files = [], [], None, "text", [], []
    for seg in segments:
        kind_of, data = seg["type"], seg["data"]
        fetchable = str(data.get("url", "")).startswith(("http://", "https://"))
        if kind_of == "image" and fetchable:
            images.append(str(data["url"]))
        elif kind_of == "file" and fetchable:
            files.append((str(data.get("name") or data.get("file") or "file"), str(data["url"])))
        if kind_of == "text":
            text.append(str(data.get("text", "")))
        elif kind_of == "at" and str(data.get("qq", "")) not in ("", "all"):
            mentions.append(str(data["qq"]))
        elif kind_of == "reply" and data.get("id") not in (None, ""):
            reply_to = str(data["id"])
        elif kind_of in RED_PACKET_TYPES:
            kind = "red_packet"
        elif kind_of in ("image", "file", "share", "json") and kind == "text":
            kind = {"image": "image", "file": "file"}.get(kind_of, "link")
    # "@bot 签到" leaves a leading space once the at segment is gone.
    return Reading("".join(text).strip(), kind, tuple(mentions), reply_to, tuple(images), tuple(files))


def outgoing(text: str, mentions: tuple[str, ...] = (), reply_to: str | None = None, image: str | None = None) -> list[dict]:
    """The segment array for a message we send: reply first, then @mentions, the text, an image."""
    segments: list[dict] = []
    if reply_to:
        segments.append({"type": "reply", "data": {"id": str(reply_to)}})
    for user in mentions:
        segments.append({"type": "at", "data": {"qq": str(user)}})
    if text:
        segments.append({"type": "text", "data": {"text": (" " if mentions else "") + text}})
    if image:
        # OneBot wants a URI; a local chart is handed over as file:///abs/path.
        uri = image if re.match(r"^[a-z][a-z0-9+.-]*://", image) else Path(image).resolve().as_uri()
        segments.append({"type": "image", "data": {"file": uri}})
    return segments
