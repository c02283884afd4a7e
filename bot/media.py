"""Pictures and files a message carries from one group to others (``SendMessage.fetch``: a relay's).

The outbox asks for an attachment just before it sends the message that carries it; the first target to
ask fetches it through the adapter that received it (size cap, time limit, no retry), the others wait for
that one fetch, and all get the same local file. Files live in a scratch folder and are forgotten a day
after they were fetched: long enough for every target's queue, and for a restart to find them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from bot.model import Attachment

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20_000_000  # the most the Telegram Bot API lets a bot download; files larger are not relayed
KEEP_SECONDS = 86_400
NAME_CHARS = 80  # of a relayed file's name (its end, which holds the extension)

Fetch = Callable[[str, str, int, float], Awaitable[bytes]]  # (platform, reference, max_bytes, seconds)


class MediaProblem(Exception):
    """Why an attachment could not be fetched (the adapter's words)."""


class Media:
    def __init__(self, fetch: Fetch, max_image_bytes: int, seconds: float, folder: Path | None = None):
        self.fetch, self.max_image_bytes, self.seconds = fetch, max_image_bytes, seconds
        self.folder = folder or Path(tempfile.gettempdir()) / "qunbot-media"
        self._fetching: dict[Path, asyncio.Future[Path]] = {}

    def path_of(self, attachment: Attachment) -> Path:
        """Where ``attachment`` is kept: named by what it is, so every target (and a restart) finds the same
        file; a file keeps its own name, in a folder of its own."""
        digest = hashlib.sha256(f"{attachment.platform}\0{attachment.reference}".encode()).hexdigest()[:24]
        if attachment.kind == "image":
            return self.folder / f"{digest}.img"
        name = Path(attachment.name).name.strip(". ")[-NAME_CHARS:] or "file"  # a file system takes ~255 bytes
        return self.folder / digest / name

    async def local(self, attachment: Attachment) -> Path:
        """The attachment as a local file, fetched once; MediaProblem when it cannot be had."""
        path = self.path_of(attachment)
        if path.is_file():
            return path
        pending = self._fetching.get(path)
        if pending is None:
            pending = self._fetching[path] = asyncio.ensure_future(self._fetch(attachment, path))
            pending.add_done_callback(lambda _f: self._fetching.pop(path, None))
        return await asyncio.shield(pending)

    async def _fetch(self, attachment: Attachment, path: Path) -> Path:
        limit = self.max_image_bytes if attachment.kind == "image" else MAX_FILE_BYTES
        try:
            data = await asyncio.wait_for(self.fetch(attachment.platform, attachment.reference, limit, self.seconds),
                                          self.seconds)
        except TimeoutError:
            raise MediaProblem(f"not fetched within {self.seconds:g} s") from None
        except Exception as exc:  # the adapter's refusal, a network failure: the message goes without it
            raise MediaProblem(str(exc) or type(exc).__name__) from exc
        if len(data) > limit:
            raise MediaProblem(f"larger than {limit} bytes")
        try:
            await asyncio.to_thread(self._store, path, data)
        except OSError as exc:  # a full disk, an unwritable folder: the message goes without it, said so
            raise MediaProblem(f"not stored: {exc}") from exc
        return path

    def _store(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # a target never sends half a file
        self._forget_old()

    def _forget_old(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for entry in self.folder.iterdir():
            try:
                if entry.stat().st_mtime >= cutoff:
                    continue
                if entry.is_dir():
                    for inner in entry.iterdir():
                        inner.unlink()
                    entry.rmdir()
                else:
                    entry.unlink()
            except OSError as exc:  # another process's file, gone already or in use: next time
                log.debug("could not forget %s: %r", entry, exc)
