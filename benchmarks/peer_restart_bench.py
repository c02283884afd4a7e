"""How soon the bot serves a group again after its platform's server was killed and restarted.

    .venv/bin/python -m benchmarks.peer_restart_bench [--rounds 3] [--down 0,5]

For each adapter, against the same peer processes as the tests (the telegram-test-api peer, the
wechaty-puppet-service gateway, our OneBot simulator as a process): the bot runs; each round kills the
peer (SIGKILL), waits ``down`` seconds, starts a new process on the same port, has a member check in
once the bot is attached again (WeChat and OneBot lose events while no client listens), and measures from
the new process's ready line to (1) the bot attached (Telegram: its first getUpdates there; WeChat: its
event stream; QQ: its WebSocket) and (2) the reply in the group. Printed: median and max per adapter
and downtime. The wait is mostly the reconnect backoff (0.5–1 s doubling to 10 s), so it grows with the
downtime; the handling itself is milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

from tests.onebot_process import OneBotProcess
from tests.qq_harness import running
from tests.telegram_harness import Peer, eventually, user
from tests.telegram_harness import running_bot as telegram_bot
from tests.wechat_harness import MEMBER as WX_MEMBER, OWNED, Gateway
from tests.wechat_harness import running_bot as wechat_bot

GROUP = -1001000000201


def install(name: str, plugin) -> None:
    """What the tests' extra_plugin fixture does: make a test plugin importable as plugins.<name>."""
    module = types.ModuleType(f"plugins.{name}")
    module.plugin = plugin
    sys.modules[module.__name__] = module


async def restart_round(kill, start, attached, say, replied, down: float, lost=None) -> tuple[float, float]:
    kill()
    if lost is not None:  # a probe that would still see the old connection: wait until the bot saw it go
        await eventually(lost, "the loss noticed")
    await asyncio.sleep(down)
    start()
    ready = time.monotonic()
    await eventually(attached, "the bot attached again", timeout=30)
    back = time.monotonic() - ready
    token = say()
    await eventually(lambda: replied(token), "the reply", timeout=30)
    return back, time.monotonic() - ready


async def telegram(tmp: Path, rounds: int, down: float) -> list[tuple[float, float]]:
    peer = Peer(state=tmp / "tg-state.json")
    peer.chat(GROUP, [{"user": user(300 + n), "status": "member"} for n in range(rounds + 1)])
    results, member = [], iter(range(300, 300 + rounds + 1))
    try:
        async with telegram_bot(peer, tmp, install):
            for _ in range(rounds):
                uid = next(member)
                results.append(await restart_round(
                    peer.kill, peer.node.start, lambda: peer.calls("getUpdates"),
                    lambda: peer.say(GROUP, uid, "签到")["result"]["message_id"],
                    lambda mid: [m for m in peer.sent(GROUP) if m.get("reply_to") == mid], down))
    finally:
        peer.stop()
    return results


async def wechat(tmp: Path, rounds: int, down: float) -> list[tuple[float, float]]:
    gateway, results = Gateway(tmp), []
    try:
        async with wechat_bot(gateway, tmp, install):
            for _ in range(rounds):
                results.append(await restart_round(
                    gateway.stop, gateway.start, gateway.streams, lambda: gateway.say(OWNED, WX_MEMBER, "签到"),
                    lambda _id: gateway.sent(OWNED), down))
    finally:
        gateway.stop()
    return results


async def qq(tmp: Path, rounds: int, down: float) -> list[tuple[float, float]]:
    from bot.adapters.qq.config import ForwardConnection, QQConfig
    from bot.config import QunbotConfig
    from bot.engine import SHIPPED_RULES, Engine

    group, members = 700201, list(range(2001, 2002 + rounds))
    peer, results = OneBotProcess(tmp, {group: {m: "member" for m in members}}), []
    peer.start()
    engine = await Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{tmp / 'qq.sqlite'}")
    try:
        async with running(engine, QQConfig(forward=[ForwardConnection(url=peer.url)], token_env="")) as (adapter, _):
            await eventually(lambda: adapter.connections, "connected")
            pending: set[asyncio.Future] = set()
            for uid in members[:rounds]:

                def say(uid=uid):
                    pending.add(asyncio.ensure_future(peer.say(group, uid, "签到")))
                    return uid

                results.append(await restart_round(
                    peer.kill, peer.start, lambda: adapter.connections, say,
                    lambda u: [s for s in peer.sent() if any(seg["type"] == "at" and seg["data"]["qq"] == str(u)
                                                             for seg in s["message"])], down,
                    lost=lambda: not adapter.connections))
    finally:
        peer.kill()
        await engine.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down", default="0,5", help="seconds the peer stays dead, comma separated")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"{'adapter':<9} {'down':>5} {'attached again (median / max)':>31} {'reply (median / max)':>22}")
    for name, run in (("telegram", telegram), ("wechat", wechat), ("qq", qq)):
        for down in (float(d) for d in args.down.split(",")):
            with tempfile.TemporaryDirectory(prefix=f"restart-{name}-") as tmp:
                results = await run(Path(tmp), args.rounds, down)
            back, reply = [r[0] for r in results], [r[1] for r in results]
            print(f"{name:<9} {down:>4g}s {statistics.median(back):>15.2f} s / {max(back):>5.2f} s"
                  f" {statistics.median(reply):>10.2f} s / {max(reply):>5.2f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
