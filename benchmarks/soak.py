"""Soak: a million generated events through replay, many groups over a few months of virtual time, with
resident memory sampled as it goes.

    python -m benchmarks.soak [--events 1000000] [--groups 300] [--days 90] [--samples 20] [--rules DIR]
                              [--without PLUGIN ...]

Everything `qunbot replay` does per line (parse, scheduled jobs falling due in between, bus, plugins,
SQLite file database, outbox planning, JSON output to a discarded stream). Prints events/s per stretch
and overall, the RSS series, and whether memory stays flat: the last quarter's RSS against the second
quarter's (start-up and first fills excluded). Figures, not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine, keep_what_start_up_built
from bot.replay import ActionWriter, parse_event
from bot.scheduler import VirtualClock

CHAT = ["大家早上好", "这个活动什么时候开始？", "收到，谢谢群主", "哈哈哈哈", "有人在上海吗", "今天的分享很有用",
        "我也想参加", "链接发一下可以吗", "晚安各位", "👍👍👍", "同意楼上", "下周见", "加微信 xm8866 带你赚钱"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def generate(n: int, groups: int, days: int, seed: int) -> Iterator[str]:
    """``n`` replay lines spread evenly over ``days``; members come and go (ids grow), so per-member state
    that is never forgotten would show as growth. ~10% check-ins, ~1% joins, some red packets and ads."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, 7, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    step = timedelta(days=days) / n
    for i in range(n):
        at = (start + step * i).isoformat()
        group = f"g{rng.randrange(groups)}"
        user = f"u{rng.randrange(60) + i // 20_000}"  # the active crowd drifts over the months
        roll = rng.random()
        if roll < 0.01:
            event = {"event": "member_joined", "user": f"new{i}", "name": f"新人{i}"}
        elif roll < 0.012:
            event = {"event": "message", "user": user, "name": f"成员{user}", "id": f"m{i}", "kind": "red_packet"}
        else:
            text = rng.choice(["签到", "打卡"]) if roll < 0.11 else "/me" if roll < 0.115 else rng.choice(CHAT)
            event = {"event": "message", "user": user, "name": f"成员{user}", "id": f"m{i}", "text": text}
        yield json.dumps({"at": at, "platform": "qq", "group": group, **event}, ensure_ascii=False)


class Discard:
    def write(self, text: str) -> int:
        return len(text)


async def soak(args) -> list[tuple[int, float, float, float]]:
    """Returns ``(events so far, seconds so far, events/s in the stretch, RSS MB)`` per sample."""
    lines = generate(args.events, args.groups, args.days, args.seed)
    every = max(1, args.events // args.samples)
    series = []
    with tempfile.TemporaryDirectory(prefix="qunbot-soak-") as scratch:
        first = next(lines)
        engine = await Engine.create(QunbotConfig(), Path(args.rules), db_url=f"sqlite:///{Path(scratch) / 'soak.db'}",
                                     clock=VirtualClock(parse_event(first).at))
        keep_what_start_up_built()  # as `qunbot replay` does
        engine.deliver = ActionWriter(engine, Discard(), Path(scratch) / "images")
        began = last = time.perf_counter()
        n = 0
        for line in _chain(first, lines):
            event = parse_event(line)
            await engine.scheduler.run_due(event.at)
            await engine.handle_and_send(event)
            n += 1
            if n % every == 0:
                now = time.perf_counter()
                series.append((n, now - began, every / (now - last), rss_mb()))
                last = now
                print(f"  {n:>9,} events  {now - began:8.1f} s  {series[-1][2]:8,.0f} events/s  RSS {series[-1][3]:7.1f} MB", flush=True)
        await engine.close()
    return series


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", default=str(SHIPPED_RULES))
    parser.add_argument("--without", nargs="*", default=[], help="plugins to switch off (e.g. insights: its weekly charts)")
    args = parser.parse_args()
    if args.without:
        scratch = Path(tempfile.mkdtemp(prefix="qunbot-soak-rules-"))
        shutil.copytree(args.rules, scratch / "rules")
        for name in args.without:
            (scratch / "rules" / f"{name}.toml").unlink()
        args.rules = str(scratch / "rules")
    print(f"soak: {args.events:,} events, {args.groups} groups, {args.days} days of virtual time, rules {args.rules}"
          + (f" without {', '.join(args.without)}" if args.without else ""))
    print(f"  start RSS {rss_mb():.1f} MB")
    series = asyncio.run(soak(args))
    n, seconds = series[-1][0], series[-1][1]
    quarter = max(1, len(series) // 4)
    early = sorted(s[3] for s in series[quarter:2 * quarter])
    late = sorted(s[3] for s in series[-quarter:])
    growth = late[len(late) // 2] - early[len(early) // 2]
    print(f"overall: {n / seconds:,.0f} events/s over {seconds:.1f} s")
    print("RSS MB series: " + " ".join(f"{s[3]:.0f}" for s in series))
    verdict = "flat" if growth < max(20.0, 0.1 * early[len(early) // 2]) else "GROWING"
    print(f"RSS second quarter {early[len(early) // 2]:.1f} MB -> last quarter {late[len(late) // 2]:.1f} MB ({growth:+.1f} MB): {verdict}")


if __name__ == "__main__":
    main()
