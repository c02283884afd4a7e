"""How long the web console takes to answer: the overview of N groups (each a month of messages from 40
members) and one group's page (its SVG chart included), served by uvicorn, fetched over loopback.

    python -m benchmarks.web_bench [--groups 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import MessageReceived
from bot.scheduler import VirtualClock
from bot.web.server import console_served
from tests.node_peer import free_port


async def fill(engine: Engine, groups: int, start: datetime) -> None:
    for g in range(groups):
        for day in range(30):
            for n in range(40 if g % 5 else 4):  # every fifth group nearly silent
                at = start + timedelta(days=day, minutes=n)
                await engine.handle(MessageReceived(at=at, platform="qq", group=f"g{g}", user=f"u{n}", name=f"成员{n}",
                                                    id=f"{g}-{day}-{n}", text="今天的课讲得真好"))
    await engine.stats.flush()


async def timed(client: httpx.AsyncClient, path: str, rounds: int) -> list[float]:
    took = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = await client.get(path)
        took.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.status_code
    return took


async def main(groups: int, rounds: int) -> None:
    start = datetime(2026, 11, 1, 1, tzinfo=timezone.utc)
    config = QunbotConfig.model_validate({"web": {"port": free_port()}})
    folder = Path(tempfile.mkdtemp())
    engine = await Engine.create(config, SHIPPED_RULES, db_url=f"sqlite:///{folder / 'web.db'}", clock=VirtualClock(start))
    try:
        await fill(engine, groups, start)
        async with console_served(engine, config.web, {"QUNBOT_WEB_SECRET": "bench"}) as base:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                await client.post("/login", data={"secret": "bench"})
                for name, path in (("overview", "/"), ("group page", "/group?g=qq:g1")):
                    took = await timed(client, path, rounds)
                    print(f"{name:>10}: {groups} groups, median {statistics.median(took) * 1000:.0f} ms, "
                          f"max {max(took) * 1000:.0f} ms over {rounds} requests")
    finally:
        await engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.groups, args.rounds))
