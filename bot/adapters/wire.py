"""JSON from a peer, read so that no input can end the reader: whatever arrives (nested a thousand levels
deep, not UTF-8, not JSON, far too large) is either a value or one ``Unreadable`` — a ValueError with a short
reason for the log line — never a RecursionError escaping a connection's read loop.

``prune`` is for the one place that must keep what it can of a page nested too deeply (Telegram's
``getUpdates``: its update ids confirm the page, so the page cannot simply be dropped).
"""

from __future__ import annotations

import json
import re
from typing import Any

# Nesting kept by ``prune``; real payloads of every platform we speak stay under a dozen levels.
MAX_DEPTH = 64

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)  # strings whole (their brackets are text), brackets


class Unreadable(ValueError):
    """A payload that cannot be read; ``str()`` says why in a few words."""


def loads(data: str | bytes | bytearray, max_bytes: int | None = None) -> Any:
    """``json.loads`` that raises only Unreadable. Bytes must be UTF-8 (as every platform sends)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise Unreadable(f"{len(data):,} bytes, more than the {max_bytes:,} allowed")
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(data)
    except RecursionError:
        raise Unreadable("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints longer than Python converts
        raise Unreadable(f"not JSON: {exc}") from None


def prune(text: str, max_depth: int = MAX_DEPTH) -> tuple[str, int]:
    """``text`` (JSON) with every array or object nested deeper than ``max_depth`` replaced by null, and how
    many were replaced. Text that is not JSON stays not JSON (``json.loads`` then says so)."""
    out: list[str] = []
    depth, kept, cut_at, cuts = 0, 0, 0, 0
    for m in _TOKENS.finditer(text):
        token = m.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == max_depth + 1:
                out.append(text[kept:m.start()])
                cut_at, cuts = depth, cuts + 1
        else:
            if depth == cut_at and cut_at:
                out.append("null")
                kept, cut_at = m.end(), 0
            depth -= 1
    if cut_at:  # unbalanced: leave it broken, json.loads will refuse it
        return text, 0
    out.append(text[kept:])
    return "".join(out), cuts


def excerpt(data: str | bytes | bytearray, size: int = 80) -> str:
    """The start of a payload for a log line, never the whole of a huge one."""
    return repr(data[:size]) + (f"… ({len(data):,} in all)" if len(data) > size else "")
