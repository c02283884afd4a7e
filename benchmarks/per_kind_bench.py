"""Qunbot's side of the NoneBot2 comparison, split by kind of message: where the time goes.

    python -m benchmarks.per_kind_bench [--events 30000] [--groups 200] [--members 100] [--actions FILE]

The same generated OneBot v11 stream and the same handling as benchmarks/qunbot_side.py (the QQ
adapter's decoding and parsing, the bus with the shipped rules on a SQLite file), timed per event and
reported per kind: mean, median, p99 and share of the total. Figures, not a test.

``--actions FILE`` also writes every action as a JSON line: the same stream must give the same file
before and after a change that only makes things faster (``cmp`` the two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from statistics import mean, median

from benchmarks.onebot_stream import BAD_URLS, CHAT, GOOD_URLS, generate
from benchmarks.qunbot_side import run_stream

KINDS = {"签到": "签到 check-in", "早安": "早安", **{t: "chat" for t in CHAT}, **{t: "allowed link" for t in GOOD_URLS},
         **{t: "link off the allow-list" for t in BAD_URLS}}


def kind_of(text: str) -> str:
    return KINDS.get(text, "ad")  # ads are the only texts the generator makes up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--actions", help="write every action to this file, a JSON line each")
    args = parser.parse_args()
    lines = generate(args.events, args.groups, args.members)
    actions: list | None = [] if args.actions else None
    run = asyncio.run(run_stream(lines, keep=actions))
    if args.actions:
        with open(args.actions, "w", encoding="utf-8") as out:
            for action in actions:
                record = {"type": type(action).__name__, **action.model_dump(mode="json")}
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    assert len(run.handled) == len(lines)  # generated ids are unique: no event is dropped as a repeat
    by_kind: dict[str, list[float]] = {}
    for line, seconds in zip(lines, run.handled):
        by_kind.setdefault(kind_of(json.loads(line)["raw_message"]), []).append(seconds)
    total = sum(run.handled)
    print(f"{len(lines):,} events, {len(lines) / run.seconds:,.0f} events/s; µs per event of each kind:")
    for kind, times in sorted(by_kind.items(), key=lambda item: -sum(item[1])):
        times.sort()
        print(f"  {kind:24} {len(times):6,}  mean {mean(times) * 1e6:7.1f}  median {median(times) * 1e6:7.1f}"
              f"  p99 {times[int(0.99 * len(times))] * 1e6:8.1f}  share {sum(times) / total:6.1%}")


if __name__ == "__main__":
    main()
