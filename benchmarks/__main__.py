"""Run every benchmark, one after another, each in its own process (so one's memory and imports do not
colour the next one's figures).

    python -m benchmarks                     # all of them, with their defaults
    python -m benchmarks startup memory      # some of them (names without the _bench suffix)
    python -m benchmarks red_packet          # the red-packet prompt's precision and recall on its corpus
"""

from __future__ import annotations

import subprocess
import sys

ALL = ("anti_ad", "anti_ad_accuracy", "red_packet", "images", "startup", "memory", "fanout", "nonebot", "replay", "chart", "web")
# A benchmark is benchmarks/<name>_bench.py, or the module named here where it measures more than speed.
MODULES = {"anti_ad_accuracy": "benchmarks.anti_ad_accuracy", "red_packet": "benchmarks.red_packet_accuracy"}


def main() -> int:
    names = sys.argv[1:] or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(ALL)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", MODULES.get(name, f"benchmarks.{name}_bench")]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
