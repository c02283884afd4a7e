"""Fan-out: one morning post to 1,000 Telegram groups through the outbox, against the Telegram peer with
Telegram's flood limits enforced.

    python -m benchmarks.fanout_bench [--groups 1000] [--per-second 30]

The peer is the tests' one (telegram-test-api behind tests/telegram_peer, `npm ci` there first), told to
refuse with 429 and ``retry_after`` any post beyond ``--per-second`` over all chats or 20 a minute in
one chat (/test/limits). Each group's ``daily_posts.morning`` job fires (Monday 08:00), the posts go
through the outbox and the real Telegram adapter (python-telegram-bot). Printed: the time from the
first firing until the outbox has delivered everything, against the least the limit allows
((groups - 1) / per second), and how many posts the peer refused with 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.adapters.telegram.adapter import TelegramAdapter
from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import ScheduleFired
from bot.scheduler import VirtualClock
from tests.telegram_harness import TOKEN, Peer

SLOT = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday, a workday
FIRST_CHAT = -1002000000000


async def fan_out(peer: Peer, scratch: Path, groups: int, per_second: float) -> tuple[float, int]:
    rules = scratch / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED_RULES / "daily_posts.toml", rules)
    config = QunbotConfig.model_validate({"adapters": ["telegram"], "outbox": {"telegram": {"per_second": per_second}},
                                          "telegram": {"base_url": f"{peer.url}/bot", "poll_timeout": 2,
                                                       "permissions_file": str(scratch / "perms.json")}})
    engine = await Engine.create(config, rules, db_url=f"sqlite:///{scratch / 'fanout.db'}", clock=VirtualClock(SLOT),
                                 platforms={"telegram"})
    adapter = TelegramAdapter(config.telegram, environ={"QUNBOT_TELEGRAM_TOKEN": TOKEN})
    engine.adapters["telegram"] = adapter
    task = asyncio.create_task(adapter.run(engine))
    try:
        while not peer.calls("getUpdates"):
            await asyncio.sleep(0.05)
        began = time.perf_counter()
        for i in range(groups):
            await engine.handle_and_send(ScheduleFired(at=SLOT, platform="telegram", group=str(FIRST_CHAT - i),
                                                       job="daily_posts.morning", slot=SLOT))
        await engine.outbox.drain()
        seconds = time.perf_counter() - began
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.close()
    sends = peer.calls("sendMessage")
    delivered = {c["params"]["chat_id"] for c in sends if c["answer"] == 200}
    if len(delivered) != groups:
        raise SystemExit(f"only {len(delivered)} of {groups} groups got their post")
    return seconds, sum(c["answer"] == 429 for c in sends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--per-second", type=float, default=30.0, help="Telegram's limit over all chats")
    args = parser.parse_args()
    peer = Peer()
    try:
        for i in range(args.groups):
            peer.post("/test/chat", id=FIRST_CHAT - i, title=f"群 {i}", permissions={"can_send_messages": True},
                      members=[{"user": {"id": 666000, "is_bot": True, "first_name": "Qunbot Test", "username": "QunbotTestBot"},
                                "status": "administrator", "rights": {"can_delete_messages": True}}])
        peer.post("/test/limits", per_second=args.per_second, per_chat_per_minute=20)
        with tempfile.TemporaryDirectory(prefix="qunbot-fanout-") as scratch:
            seconds, refused = asyncio.run(fan_out(peer, Path(scratch), args.groups, args.per_second))
    finally:
        peer.stop()
    least = (args.groups - 1) / args.per_second
    print(f"fan-out: morning post to {args.groups:,} Telegram groups, peer enforcing {args.per_second:g} posts/s and 20/min per chat")
    print(f"  delivered in {seconds:.1f} s; the limit allows {least:.1f} s at best: {100 * (seconds / least - 1):+.1f}%   "
          f"429 answers: {refused}")


if __name__ == "__main__":
    main()
