"""How long the activity chart takes to draw and write (PNG), for a 30-day and a 90-day window, with and
without days before the bot joined. Drawing dominates the weekly report's cost (README: Performance).

    python -m benchmarks.chart_bench [--rounds 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bot.charts import activity_chart


def series(days: int, seed: int = 7) -> list[dict]:
    """A lively group: fewer speakers at weekends, about half of them checking in, a few joins and leaves."""
    rnd, today, rows = random.Random(seed), date(2026, 12, 3), []
    for i in range(days):
        day = today - timedelta(days=days - 1 - i)
        active = max(0, int(rnd.gauss(28 if day.weekday() >= 5 else 45, 6)))
        rows.append({"day": day, "messages": int(active * rnd.uniform(6, 11)), "active": active,
                     "checkin": int(active * rnd.uniform(0.35, 0.7)), "joins": rnd.choice([0, 0, 1, 2, 3, 5, 8]),
                     "leaves": rnd.choice([0, 0, 0, 1, 2])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "chart.png"
        activity_chart(series(30), "warm-up", out)  # matplotlib's import and the font, once per process
        for days, joined_days_ago in ((30, None), (30, 12), (90, None)):
            rows = series(days)
            born = rows[-joined_days_ago]["day"] if joined_days_ago else None
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                activity_chart(rows, f"近 {days} 天群活跃度", out, born)
                times.append(time.perf_counter() - start)
            joined = f", bot joined {joined_days_ago} days ago" if joined_days_ago else ""
            print(f"{days} days{joined}: median {statistics.median(times) * 1000:.0f} ms, "
                  f"max {max(times) * 1000:.0f} ms ({args.rounds} rounds, {out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
