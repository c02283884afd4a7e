"""Ads in pictures: how many the shipped rules catch, what a picture costs, and what reading 100 of them
at once does to the latency of text events.

    .venv/bin/python -m benchmarks.images_bench [--per-kind 40] [--texts 1500]

Pictures come from tests/image_samples.py (posters from the anti-ad corpus's held-out ads, screenshots
from its held-out ordinary messages, QR codes to invitations, contact cards, payments, unknown and allowed
sites, photos; a third of them rotated, blurred and JPEG-compressed), read with OCR on (a newcomer's).
Latency: text messages go through a live engine (anti-ad and the shipped plugins, SQLite) one after another;
once alone, once while 100 pictures, queued at the same moment, are read by the image workers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.anti_ad_accuracy import memory, shipped_rules
from bot.images import analyse, read_codes, read_text
from plugins.anti_ad import judge_picture
from tests.image_samples import samples, write


def accuracy(per_kind: int) -> list:
    rules = shipped_rules()
    kept = memory(rules)
    flagged, total, qr_ms, ocr_ms = Counter(), Counter(), [], []
    pictures = samples(per_kind)
    analyse(pictures[0].data, ocr=True)  # load the OCR models before timing
    from io import BytesIO

    from PIL import Image
    for sample in pictures:
        picture = Image.open(BytesIO(sample.data)).convert("RGB")
        start = time.perf_counter()
        codes = read_codes(picture)
        qr_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        text = read_text(picture)
        ocr_ms.append((time.perf_counter() - start) * 1000)
        judged = judge_picture(rules, kept.plan, kept, tuple(codes), text, True)
        total[sample.kind] += 1
        flagged[sample.kind] += judged.detector is not None
    print(f"pictures: {len(pictures)} ({per_kind} of each kind), OCR on (as for a newcomer)")
    for kind, label in (("qr_ad", "QR ads caught"), ("poster_ad", "poster ads caught"), ("qr_allowed", "QR codes to allowed sites flagged"),
                        ("screenshot", "chat screenshots flagged"), ("photo", "photos flagged")):
        print(f"  {label:<36} {flagged[kind] / total[kind]:6.1%} ({flagged[kind]}/{total[kind]})")
    innocent = sum(flagged[k] for k in ("qr_allowed", "screenshot", "photo"))
    print(f"  {'innocent pictures flagged':<36} {innocent / sum(total[k] for k in ('qr_allowed', 'screenshot', 'photo')):6.1%}")
    print(f"  ms per picture: QR decoding median {statistics.median(qr_ms):.1f} (p95 {sorted(qr_ms)[int(len(qr_ms) * .95)]:.1f}), "
          f"OCR median {statistics.median(ocr_ms):.0f} (p95 {sorted(ocr_ms)[int(len(ocr_ms) * .95)]:.0f})")
    return pictures


async def latency(texts: int, pictures: list) -> None:
    from bot.config import QunbotConfig
    from bot.engine import SHIPPED_RULES, Engine
    from bot.model import MessageReceived, ScanImage
    from bot.scheduler import VirtualClock

    with tempfile.TemporaryDirectory() as scratch:
        files = write(Path(scratch) / "pictures", pictures[:100])
        start = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)
        engine = await Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{scratch}/bench.db", clock=VirtualClock(start))
        engine.deliver = lambda _actions, _at: None
        figures = {}
        try:
            # The worker processes start (and load the OCR models) before anything is timed.
            engine.images.submit(ScanImage(platform="qq", group="g0", plugin="anti_ad", image=str(files[0][0]), message="warm",
                                           user="u0", ocr=True))
            await engine.images.drain()
            for label, with_pictures in (("alone", False), ("while 100 pictures are read", True)):
                if with_pictures:
                    for n, (path, _sample) in enumerate(files):
                        engine.images.submit(ScanImage(platform="qq", group=f"g{n % 10}", plugin="anti_ad", image=str(path),
                                                       message=f"p{n}", user=f"u{n}", ocr=True))
                spent = []
                # With pictures: texts go on until every picture is read (at least ``texts`` of them).
                for n in itertools.count():
                    if n >= texts and not (with_pictures and not engine.images._idle.is_set()):
                        break
                    at = start + timedelta(seconds=n)
                    event = MessageReceived(at=at, group=f"g{n % 10}", user=f"m{n % 50}", id=f"{label[:1]}{n}", text=f"今天的作业第 {n} 题怎么做")
                    begun = time.perf_counter()
                    await engine.handle(event)
                    spent.append((time.perf_counter() - begun) * 1000)
                    await asyncio.sleep(0.002)  # a busy group's pace, leaving the loop free in between
                await engine.images.drain()
                spent.sort()
                figures[label] = spent[int(len(spent) * 0.99)]
                print(f"  text events {label:<28} p50 {spent[len(spent) // 2]:.2f} ms  p99 {figures[label]:.2f} ms"
                      + f"  ({len(spent)} texts)")
        finally:
            await engine.close()
        print(f"  p99 ratio with pictures / alone: {figures['while 100 pictures are read'] / figures['alone']:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--texts", type=int, default=1500)
    args = parser.parse_args()
    pictures = accuracy(args.per_kind)
    asyncio.run(latency(args.texts, pictures))


if __name__ == "__main__":
    main()
