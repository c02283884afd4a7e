"""Leases between replicas (bot/leases.py) on a real PostgreSQL: what holding many groups costs, and how
fast a survivor takes them over from an owner that died.

    python -m benchmarks.lease_bench --db postgresql://postgres@127.0.0.1/qunbot_bench [--groups 10000]

The database is used as it is (its ``leases`` rows of earlier runs are deleted first). Printed: the
median and worst time of one renewal of every group's lease (one statement, every ``lease_seconds / 5``),
and the time from an owner's last renewal until a survivor holds all its groups, with a 2 s lease.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sqlalchemy import text

from bot.leases import Leases
from bot.store import Store


async def bench(url: str, groups: int, rounds: int) -> None:
    store = await Store.open(url)
    try:
        await store.run(lambda c: c.execute(text("DELETE FROM leases")))
        keys = [f"qq:{1_000_000 + i}" for i in range(groups)]
        owner = Leases(store, ttl=2.0, every=0.4, margin=0.2)
        owner.want(keys)
        began = time.perf_counter()
        await owner.tick()
        first = time.perf_counter() - began
        renewals = []
        for _ in range(rounds):
            began = time.perf_counter()
            await owner.tick()
            renewals.append(time.perf_counter() - began)
        assert len(owner.held) == groups
        print(f"{groups} group leases: first take {first * 1000:.0f} ms; renewal median "
              f"{statistics.median(renewals) * 1000:.1f} ms, worst {max(renewals) * 1000:.1f} ms ({rounds} renewals)")

        taken = asyncio.Event()

        async def acquired(*got: str) -> None:
            if len(survivor.held) == groups:
                taken.set()

        survivor = Leases(store, ttl=2.0, every=0.4, margin=0.2, on_acquired=acquired)
        survivor.want(keys)
        await survivor.tick()  # watching: nothing free yet
        died = time.perf_counter()  # the owner's last renewal was just now; it renews no more
        watching = asyncio.create_task(survivor.run_forever())
        await asyncio.wait_for(taken.wait(), timeout=30)
        print(f"take-over of {groups} groups after the owner's last renewal: {time.perf_counter() - died:.2f} s "
              f"(lease 2.0 s, renewal every 0.4 s)")
        watching.cancel()
        await store.run(lambda c: c.execute(text("DELETE FROM leases")))
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (migrated on open)")
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(bench(args.db, args.groups, args.rounds))


if __name__ == "__main__":
    main()
