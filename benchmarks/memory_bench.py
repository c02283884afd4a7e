"""Memory: resident set size with 10,000 groups and 500,000 members known, every shipped plugin on.

    python -m benchmarks.memory_bench [--groups 10000] [--members 500000]

"Known" means seen: every member of every group has spoken once (a QQ group message through the bus on
the SQLite file database), so every per-group and per-member cache the plugins keep in the process
(scheduled jobs of each group, flood counters, nickname checks, recent messages for /ad, statistics
not yet flushed) holds what it holds in a live bot after such a day. Printed: resident memory (VmRSS of
this process) after start, after the groups, and after the members, with the time the run took.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import MessageReceived
from bot.scheduler import VirtualClock

START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CHAT = ["大家早上好", "这个活动什么时候开始？", "收到，谢谢群主", "哈哈哈哈", "有人在上海吗", "今天的分享很有用"]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


async def fill(groups: int, members: int) -> list[tuple[str, float]]:
    marks = [("started, nothing known", 0.0)]
    with tempfile.TemporaryDirectory(prefix="qunbot-memory-") as scratch:
        engine = await Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{Path(scratch) / 'memory.db'}",
                                     clock=VirtualClock(START))
        marks[0] = (marks[0][0], rss_mb())
        step = timedelta(days=1) / members
        for i in range(members):  # member i speaks in group i % groups: every group early, every member once
            group, at = i % groups, START + step * i
            await engine.handle(MessageReceived(at=at, platform="qq", group=str(700_000 + group), user=str(10_000_000 + i),
                                                name=f"成员{i}", id=f"m{i}", text=CHAT[i % len(CHAT)]))
            if i + 1 == groups:
                gc.collect()
                marks.append((f"{groups:,} groups known", rss_mb()))
        gc.collect()
        marks.append((f"{groups:,} groups and {members:,} members known", rss_mb()))
        await engine.close()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=500_000)
    args = parser.parse_args()
    began = time.perf_counter()
    marks = asyncio.run(fill(args.groups, args.members))
    print(f"memory: resident set, shipped rules, SQLite file ({time.perf_counter() - began:.0f} s)")
    for label, mb in marks:
        print(f"  {label:45} {mb:7.0f} MB")


if __name__ == "__main__":
    main()
