"""Qunbot against NoneBot2 on one generated stream of OneBot v11 group messages, in one run.

    python -m benchmarks.nonebot_bench [--events 100000] [--nonebot-events 20000] [--groups 200] [--members 100]

NoneBot2 2.5.0 with nonebot-adapter-onebot 2.4.6 is installed into its own virtual environment,
.bench/nonebot-venv (gitignored, reused when present; not a Qunbot dependency), and runs
benchmarks/nonebot_side.py as a child process: five matchers (1,000-keyword ad ban that recalls and
mutes, on_command("签到"), a URL regex, a catch-all counter, on_fullmatch("早安")) over API calls that
do nothing. Qunbot runs the same payloads through its QQ adapter's parsing and the bus with the shipped
rules (every default plugin) on a SQLite file (benchmarks/qunbot_side.py). The mix: 70% chat, 10% 签到,
5% 早安, 10% URLs, 5% ads (benchmarks/onebot_stream.py).

Both sides take the payloads back to back (the next arrives when the previous is done), so the rate is
the most one process handles and the latency is that of a saturated bot: from a payload's arrival
(the JSON text) to its first action (Qunbot: the actions are durable, with their event's state and
outbox rows, and handed to delivery, before the outbox's pacing; NoneBot2: its first API call). NoneBot2 is slower, so it gets the first ``--nonebot-events``
of the stream. Figures, not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from benchmarks.onebot_stream import SHIPPED_ANTI_AD, ad_keywords, generate
from benchmarks.qunbot_side import run_stream

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench" / "nonebot-venv"
PINS = ("nonebot2==2.5.0", "nonebot-adapter-onebot==2.4.6")


def nonebot_python() -> Path:
    """The venv's interpreter, creating the venv and installing the pinned NoneBot2 on first use."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('nonebot2'), m.version('nonebot-adapter-onebot'))"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.split() == ["2.5.0", "2.4.6"]:
        return python
    print(f"installing {' '.join(PINS)} into {VENV.relative_to(ROOT)} …", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS], check=True)
    return python


def quantiles(samples: list[float]) -> str:
    if not samples:
        return "no actions"
    xs = sorted(samples)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))] * 1e6  # noqa: E731
    return f"p50 {pick(0.50):,.0f} µs  p99 {pick(0.99):,.0f} µs  max {xs[-1] * 1e3:,.1f} ms"


def run_nonebot(lines: list[str], scratch: Path) -> dict:
    stream, words, allow, out = (scratch / n for n in ("stream.jsonl", "keywords.json", "allow.json", "result.json"))
    stream.write_text("\n".join(lines), encoding="utf-8")
    words.write_text(json.dumps(ad_keywords(1000), ensure_ascii=False), encoding="utf-8")
    allow.write_text(json.dumps(tomllib.loads(SHIPPED_ANTI_AD.read_text("utf-8"))["allow_domains"]), encoding="utf-8")
    subprocess.run([str(nonebot_python()), str(ROOT / "benchmarks" / "nonebot_side.py"), *map(str, (stream, words, allow, out))],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--nonebot-events", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=100)
    args = parser.parse_args()
    lines = generate(args.events, args.groups, args.members)
    print(f"OneBot v11 stream: {len(lines):,} group messages, {args.groups} groups x {args.members} members; "
          "70% chat, 10% 签到, 5% 早安, 10% URLs, 5% ads")
    with tempfile.TemporaryDirectory(prefix="qunbot-nonebot-") as scratch:
        nb = run_nonebot(lines[:args.nonebot_events], Path(scratch))
    nb_rate = len(nb["handled"]) / nb["seconds"]
    print(f"  NoneBot2 2.5.0   {nb_rate:>9,.0f} events/s over {len(nb['handled']):,} | first action "
          f"{quantiles(nb['latencies'])} | per event {quantiles(nb['handled'])}")
    qb = asyncio.run(run_stream(lines))
    qb_rate = len(qb.handled) / qb.seconds
    print(f"  Qunbot           {qb_rate:>9,.0f} events/s over {len(qb.handled):,} | first action "
          f"{quantiles(qb.latencies)} | per event {quantiles(qb.handled)}")
    print(f"  Qunbot / NoneBot2: {qb_rate / nb_rate:.1f}x   (actions: Qunbot {qb.actions:,} "
          f"{', '.join(f'{k} {v:,}' for k, v in sorted(qb.by_plugin.items()))}; NoneBot2 counted {nb['counted']:,})")


if __name__ == "__main__":
    main()
