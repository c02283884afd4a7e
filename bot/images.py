"""Reading pictures: the QR codes in them (zxing-cpp) and, where asked, their text (RapidOCR on
onnxruntime, whose Chinese models ship inside its wheel), off the event loop — in worker processes at a
lower CPU priority, so that neither the GIL nor the cores are taken from the events.

A plugin asks with a ``ScanImage`` effect; ``ImageWork`` queues it (oldest first, bounded: what does not
fit is dropped and reported), fetches the picture through the adapter that received it (size cap, time
limit, no retry: a failure is logged and the message stays text-only), reads it in a small thread pool,
and hands the asking plugins an ``ImageScanned`` event. Nothing here waits in a group's lane: text events
of every group, the picture's own included, go on while a picture is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.model import Event, ImageScanned, ScanImage

log = logging.getLogger(__name__)
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
OCR_SIDE = 1600  # longer pictures are scaled down for OCR: enough for a poster's lines, far cheaper


class ImageLimits(BaseModel):
    """config.toml ``[images]``."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, le=16)  # pictures read at once (worker processes)
    queue: int = Field(200, ge=1, le=100_000)  # pictures waiting beyond the workers; more are dropped, reported
    max_bytes: int = Field(8_000_000, ge=10_000)  # larger pictures are not fetched whole
    fetch_seconds: float = Field(10.0, gt=0)  # time limit for fetching one picture


class ImageProblem(Exception):
    """Why a picture could not be read: too large, not a picture, the platform refused it."""


def read_codes(picture) -> list[str]:
    """The payloads of the QR codes (and other barcodes) in a PIL image."""
    import zxingcpp

    return [found.text for found in zxingcpp.read_barcodes(picture) if found.text]


_ocr_local = threading.local()


def read_text(picture) -> str:
    """The text of a PIL image, line by line (RapidOCR: detection, angle, recognition). One engine per
    thread (an onnxruntime session may be shared, RapidOCR's Python side is not known to be), each on one
    core: the workers are the parallelism."""
    import numpy
    from rapidocr_onnxruntime import RapidOCR

    engine = getattr(_ocr_local, "engine", None)
    if engine is None:
        engine = _ocr_local.engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    if max(picture.size) > OCR_SIDE:
        picture = picture.copy()
        picture.thumbnail((OCR_SIDE, OCR_SIDE))
    found, _elapsed = engine(numpy.asarray(picture.convert("RGB")))
    return "\n".join(line[1] for line in found or ())


def analyse(data: bytes, ocr: bool) -> tuple[list[str], str]:
    """(QR payloads, text or "") of a picture's bytes; ImageProblem when it is not a readable picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(data))
        if picture.width * picture.height > MAX_PIXELS:
            raise ImageProblem(f"too many pixels ({picture.width}×{picture.height})")
        picture.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageProblem(f"not a readable picture ({exc})") from None
    picture = picture.convert("RGB")
    return read_codes(picture), read_text(picture) if ocr else ""


Fetch = Callable[[str, str, int, float], Awaitable[bytes]]  # (platform, reference, max bytes, seconds) -> bytes


class ImageWork:
    """The queue and workers. ``fetch`` gets a picture's bytes, ``handle`` takes the ``ImageScanned``
    events (the engine: through the bus, then to the outbox), ``report`` tells the operators."""

    def __init__(self, limits: ImageLimits, fetch: Fetch, handle: Callable[[Event], Awaitable], report: Callable[[str], None],
                 now: Callable[[], datetime]):
        self.limits, self.fetch, self.handle, self.report, self.now = limits, fetch, handle, report, now
        self._waiting: deque[ScanImage] = deque()
        self._workers: set[asyncio.Task] = set()
        self._pool: ProcessPoolExecutor | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0

    def submit(self, request: ScanImage) -> None:
        if len(self._waiting) >= self.limits.queue:
            self.dropped += 1
            self.report(f"images: queue full ({self.limits.queue} waiting), picture of message {request.message} in "
                        f"{request.group_key} not read ({self.dropped} dropped so far)")
            return
        self._waiting.append(request)
        self._idle.clear()
        if len(self._workers) < self.limits.workers:
            task = asyncio.get_running_loop().create_task(self._work(), name="images")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def drain(self) -> None:
        """Wait until every picture queued so far is read and its event handled."""
        await self._idle.wait()

    async def _work(self) -> None:
        try:
            while self._waiting:
                request = self._waiting.popleft()  # oldest first
                try:
                    await self.handle(await self._scan(request))
                except Exception:  # one picture's failure must not stop the others
                    log.exception("images: handling the picture of %s in %s failed", request.message, request.group_key)
        finally:
            if not self._waiting and len(self._workers) <= 1:
                self._idle.set()

    async def _scan(self, request: ScanImage) -> ImageScanned:
        codes: list[str] = []
        text, problem = "", ""
        try:
            data = await asyncio.wait_for(self.fetch(request.platform, request.image, self.limits.max_bytes,
                                                     self.limits.fetch_seconds), self.limits.fetch_seconds)
            if len(data) > self.limits.max_bytes:
                raise ImageProblem(f"larger than {self.limits.max_bytes} bytes")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.limits.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_started)
            codes, text = await asyncio.get_running_loop().run_in_executor(self._pool, analyse, data, request.ocr)
        except TimeoutError:
            problem = f"not fetched within {self.limits.fetch_seconds:g} s"
        except BrokenProcessPool:  # a worker died (out of memory on a hostile picture): start afresh
            self._pool, problem = None, "the picture reader crashed on it"
        except Exception as exc:  # ImageProblem, the platform's refusal, a network error: logged, text-only
            problem = str(exc) or type(exc).__name__
        if problem:
            log.warning("images: picture of message %s in %s not read: %s", request.message, request.group_key, problem)
        return ImageScanned(at=self.now(), platform=request.platform, group=request.group, user=request.user,
                            name=request.user_name, role=request.role, message=request.message, image=request.image,
                            codes=tuple(codes), text=text, ocr=request.ocr, problem=problem)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _worker_started() -> None:
    """A worker process yields the CPU to the bot's own (a picture may wait; a reply should not)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)

