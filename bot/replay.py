"""``qunbot replay``: the whole bus on a virtual clock over a JSONL event log (a stable contract, DESIGN.md).

The clock jumps from event to event, firing every scheduled job that falls due in between (and up to
``--until`` at the end). Actions are written after the outbox's capability planning, one JSON line
each, so what replay prints is what the event's platform would receive, fallbacks included; every action
the platform can take is taken to succeed, and an announcement (``after_done``) of one it cannot take is
left out, with the report the live outbox would make. A malformed line is reported with its line number
and skipped.
"""

from __future__ import annotations

import itertools
import json
import re
import logging
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Iterator

from pydantic import ValidationError

from bot.adapters.base import CAPABILITIES
from bot.config import QunbotConfig
from bot.engine import Engine, keep_what_start_up_built
from bot.model import PLATFORM_EVENTS, Action, Event, SendMessage, action_record
from bot.outbox import plan_batch
from bot.scheduler import VirtualClock

log = logging.getLogger(__name__)


class BadLine(ValueError):
    pass


# A line longer than this is reported and skipped without being read into memory whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
AT_EXAMPLE = "2026-11-23T08:59:00+08:00"
# Date, then time (ISO 8601 extended or basic form); the rest, offset included, is fromisoformat's to judge.
_DATE_TIME = re.compile(r"\d{4}-?\d{2}-?\d{2}[T ]\d{2}")


def _instant(value) -> datetime:
    """``at`` read strictly: ISO 8601 text with a date, a time and a UTC offset. Left to pydantic, 1 (or
    "1") is a Unix time, 1970, and the virtual clock then fires 56 years of scheduled jobs."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise BadLine(f"at: must be an ISO 8601 date and time with a UTC offset, like {AT_EXAMPLE} (got {value!r:.60})")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"at: not a valid ISO 8601 date and time: {value!r:.60} (like {AT_EXAMPLE})") from None
    if at.tzinfo is None:
        raise BadLine(f"at: needs a UTC offset, like {AT_EXAMPLE}")
    return at


def parse_event(line: str | bytes) -> Event:
    """One replay input line as an event; raises BadLine with a readable problem."""
    try:
        data = json.loads(line)
        # A lone surrogate ("\ud800") is valid JSON but not text any database or platform accepts;
        # it can only arrive as an escape, so only lines with escapes pay for the check.
        if (b"\\u" if isinstance(line, bytes) else "\\u") in line:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError are ValueErrors
        raise BadLine(f"not valid JSON text: {exc}") from None
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    kind = data.get("event")
    cls = PLATFORM_EVENTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadLine(f"unknown event {kind!r} (one of: {', '.join(PLATFORM_EVENTS)})")
    platform = data.get("platform", "qq")
    if not isinstance(platform, str) or platform not in CAPABILITIES:
        raise BadLine(f"unknown platform {platform!r} (one of: {', '.join(CAPABILITIES)})")
    if "at" in data:
        data["at"] = _instant(data["at"])
    try:
        event = cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
        raise BadLine(problems) from None
    return event


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """The stream's lines, each read up to ``MAX_LINE_BYTES``; None for a longer one (its rest is skipped)."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def read_events(lines: IO[bytes], source: str, errors: IO[str]) -> Iterator[tuple[int, Event]]:
    """``(line number, event)`` for every good line; bad ones are reported on ``errors`` and skipped."""
    for number, line in enumerate(_lines(lines), 1):
        try:
            if line is None:
                raise BadLine(f"longer than {MAX_LINE_BYTES:,} bytes")
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark from Windows editors
            if not line.strip():
                continue
            yield number, parse_event(line)
        except BadLine as exc:
            print(f"{source}:{number}: {exc}; line skipped", file=errors)


class ActionWriter:
    """The replay sink: plan each action for its platform and write it as one JSON line."""

    def __init__(self, engine: Engine, out: IO[str], images: Path):
        self.engine = engine
        self.out = out
        self.images = images
        self.count = 0

    def __call__(self, actions: list[Action], at: datetime) -> None:
        # Timers and reports are the engine's own effects: printed as they are, never planned. Every possible
        # action is taken to succeed, so an announcement is printed unless an action before it was impossible.
        for item in plan_batch(actions, lambda action: CAPABILITIES[action.platform], self.engine.templates):
            record = action_record(item, at)
            if isinstance(item, SendMessage):
                if item.fetch is not None:  # a picture or file from another group: in replay, a local path
                    del record["fetch"]
                    if Path(item.fetch.reference).is_file():
                        record[item.fetch.kind] = item.fetch.reference
                for attachment in ("image", "file"):  # kept beside --out: a temporary file may be gone later
                    if record.get(attachment):
                        record[attachment] = self._keep(record[attachment])
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.count += 1
            if isinstance(item, SendMessage) and item.receipt:
                self.engine.receipts.note(item, None)  # replay takes every possible message to arrive

    def _keep(self, path: str) -> str:
        self.images.mkdir(parents=True, exist_ok=True)
        target = self.images / f"{self.count:06d}_{Path(path).name}"
        shutil.copyfile(path, target)
        return str(target)


async def replay(events: Path, rules_dir: Path, config: QunbotConfig, db_url: str | None = None,
                 until: datetime | None = None, out: Path | None = None) -> int:
    """Run the replay; returns the number of actions written."""
    with tempfile.TemporaryDirectory(prefix="qunbot-replay-") as scratch, events.open("rb") as lines:
        stream = read_events(lines, events.name, sys.stderr)
        first = next(stream, None)
        # The virtual clock starts at the first event, so jobs of groups already known to --db are
        # planned from there rather than from some arbitrary epoch.
        start = first[1].at if first else until
        url = db_url or f"sqlite:///{Path(scratch) / 'replay.db'}"
        engine = await Engine.create(config, rules_dir, db_url=url, clock=VirtualClock(start))
        keep_what_start_up_built()
        images = out.parent / f"{out.stem}_images" if out else Path(tempfile.mkdtemp(prefix="qunbot-images-"))
        sink = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            writer = engine.deliver = ActionWriter(engine, sink, images)
            for number, event in itertools.chain([first] if first else [], stream):
                try:
                    await engine.scheduler.run_due(event.at)
                    engine.clock.set(event.at)
                    await engine.handle_and_send(event)
                    await engine.images.drain()  # the pictures it asked to read, before the next line
                except Exception as exc:  # never fatal: say which line, go on with the next
                    log.debug("%s:%d: failed", events.name, number, exc_info=True)
                    print(f"{events.name}:{number}: failed: {exc!r}; line skipped", file=sys.stderr)
            if until is not None:
                await engine.scheduler.run_due(until)
            return writer.count
        finally:
            if out:
                sink.close()
            else:
                sys.stdout.flush()
            await engine.close()
