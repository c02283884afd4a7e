"""Replay throughput: a generated mixed stream through the whole bus on the SQLite file database.

    python -m benchmarks.replay_bench [--events 100000] [--groups 200] [--members 50] [--seed 1]

Prints events per second and the p50 / p99 / max time per event (parse, bus, plugins, database, outbox
planning and JSON output — everything `qunbot replay` does for a line). Scheduled jobs that fall due
between events (posts, weekly reports with charts, prompts) are timed apart; the overall rate includes
them. Three setups in one run: check-ins alone (the engine's own figure), the shipped rules, and the
shipped rules less the insights plugin and with the engine's message counting (bot.stats, which insights
reads) switched off — the difference is what the operator's view costs on the hot path. Figures, not a
test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine, keep_what_start_up_built
from bot.replay import ActionWriter, parse_event
from bot.scheduler import VirtualClock

CHAT = ["大家早上好", "这个活动什么时候开始？", "收到，谢谢群主", "哈哈哈哈", "有人在上海吗", "今天的分享很有用",
        "我也想参加", "链接发一下可以吗", "晚安各位", "👍👍👍", "同意楼上", "下周见"]


def generate(n: int, groups: int, members: int, seed: int) -> list[str]:
    """``n`` replay lines over three days: ~10% check-ins, ~0.5% /top, ~0.5% joins, the rest chat."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    step = timedelta(days=3) / n
    lines = []
    for i in range(n):
        at = (start + step * i).isoformat()
        group, user = f"g{rng.randrange(groups)}", f"u{rng.randrange(members)}"
        roll = rng.random()
        if roll < 0.005:
            event = {"event": "member_joined", "user": f"new{i}", "name": f"新人{i}"}
        else:
            text = rng.choice(["签到", "打卡", "/checkin"]) if roll < 0.105 else "/top" if roll < 0.11 else rng.choice(CHAT)
            event = {"event": "message", "user": user, "name": f"成员{user}", "id": f"m{i}", "text": text}
        lines.append(json.dumps({"at": at, "platform": "qq", "group": group, **event}, ensure_ascii=False))
    return lines


def rules_only(plugins: tuple[str, ...], folder: Path) -> Path:
    """A rules folder with just these shipped rule files."""
    folder.mkdir(parents=True)
    for name in plugins:
        shutil.copy(SHIPPED_RULES / f"{name}.toml", folder)
    return folder


def rules_without(plugin: str, folder: Path) -> Path:
    """A copy of the shipped rules with ``plugin`` switched off."""
    shutil.copytree(SHIPPED_RULES, folder)
    (folder / f"{plugin}.toml").unlink()
    return folder


@dataclass
class Figures:
    total: float  # seconds, everything
    per_event: list[float]  # seconds per event: parse, bus, plugins, database, output
    job_seconds: float  # time spent firing scheduled jobs (posts, reports, prompts …)
    actions: int


async def run(lines: list[str], rules: Path = SHIPPED_RULES, counting: bool = True) -> Figures:
    """Replay ``lines`` as `qunbot replay` does, timing events and scheduled jobs apart."""
    with tempfile.TemporaryDirectory(prefix="qunbot-bench-") as scratch:
        first = parse_event(lines[0])
        engine = await Engine.create(QunbotConfig(), rules, db_url=f"sqlite:///{Path(scratch) / 'bench.db'}",
                                     clock=VirtualClock(first.at))
        keep_what_start_up_built()  # as `qunbot replay` does
        if not counting:  # the benchmark's switch only: a deployed bot always counts
            engine.stats.observe = engine.stats.observe_actions = lambda *_: None
        out = io.StringIO()
        writer = engine.deliver = ActionWriter(engine, out, Path(scratch) / "images")
        per_event, job_seconds = [], 0.0
        clock = time.perf_counter
        began = clock()
        for line in lines:
            t0 = clock()
            event = parse_event(line)
            t1 = clock()
            await engine.scheduler.run_due(event.at)
            t2 = clock()
            job_seconds += t2 - t1
            await engine.handle_and_send(event)
            per_event.append(clock() - t2 + t1 - t0)
        total = clock() - began
        await engine.close()
        return Figures(total, per_event, job_seconds, writer.count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    lines = generate(args.events, args.groups, args.members, args.seed)
    print(f"replay benchmark: {len(lines)} events ({args.groups} groups x {args.members} members, ~10% check-ins), SQLite file")
    rates = {}
    with tempfile.TemporaryDirectory(prefix="qunbot-bench-rules-") as scratch:
        setups = (("check-ins only", rules_only(("checkin",), Path(scratch) / "c"), True),
                  ("shipped rules", SHIPPED_RULES, True),
                  ("without insights", rules_without("insights", Path(scratch) / "r"), False))
        for label, rules, counting in setups:
            f = asyncio.run(run(lines, rules, counting))
            f.per_event.sort()
            pick = lambda q: f.per_event[min(len(f.per_event) - 1, int(q * len(f.per_event)))] * 1e6  # noqa: E731
            rates[label] = len(lines) / sum(f.per_event)
            print(f"  {label:17} events {rates[label]:>8,.0f}/s   p50 {pick(0.50):.0f} us   p99 {pick(0.99):.0f} us   "
                  f"max {f.per_event[-1] * 1e3:.1f} ms   |   scheduled jobs {f.job_seconds:.1f} s   "
                  f"|   all {len(lines) / f.total:,.0f} events/s, {f.actions} actions")
    print(f"  insights (counting + plugin) costs {100 * (1 - rates['shipped rules'] / rates['without insights']):.1f}% "
          "of the event rate; its scheduled jobs (daily assessment, weekly report with a chart per group) are timed apart")


if __name__ == "__main__":
    main()
