"""Start-up: from `qunbot run` to ready, on the embedded default (no config.toml: SQLite file in the
working folder, the console sandbox, the shipped rules).

    python -m benchmarks.startup_bench [--runs 5]

"Ready" is when the bot answers: the clock starts when the process is spawned with 签到 already waiting
on its standard input, and stops when the check-in's reply line appears on its standard output. That
covers the interpreter, every import, opening (and on the first start, creating and migrating) the
database, loading the rules and plugins, planning the scheduled jobs, and handling one message. Printed:
the first start in an empty folder and the median and worst of ``--runs`` starts on the existing file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUNBOT = Path(sys.executable).with_name("qunbot")


def time_to_ready(folder: Path) -> float:
    began = time.perf_counter()
    proc = subprocess.Popen([str(QUNBOT), "run"], cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    proc.stdin.write("签到\n")
    proc.stdin.flush()
    try:
        for line in proc.stdout:
            if "checkin/" in line:  # the reply names its plugin and reason: [checkin/checked_in]
                return time.perf_counter() - began
        raise SystemExit("qunbot run ended without answering 签到")
    finally:
        proc.stdin.close()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qunbot-startup-") as scratch:
        first = time_to_ready(Path(scratch))
        again = sorted(time_to_ready(Path(scratch)) for _ in range(args.runs))
    print("start-up: `qunbot run` on the embedded default until it answers 签到 (ready)")
    print(f"  first start (creates and migrates the SQLite file) {first:.2f} s   |   "
          f"existing file: median {statistics.median(again):.2f} s, worst {again[-1]:.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
