#!/usr/bin/env python3
"""Recompute a Qunbot lottery's winners from what the group was shown (standard library only).

The rule, as the draw announcement states it: every entrant is ranked by sha256("<seed>:<id>") (hex,
ascending; equal hashes by id), and the first <winners> of them win. Before that, the seed must hash to
the commitment published when the lottery started, and (when given) the sorted ids, one per line, must
hash to the announced list digest.

    python scripts/verify_lottery.py --seed SEED --commitment HEX --winners 3 [--digest HEX] ID [ID …]
    python scripts/verify_lottery.py --seed SEED --commitment HEX --winners 3 --ids-file entrants.txt

Prints the winners, one id per line; exits 1 (saying why on stderr) when a check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import sys


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def winners(seed: str, ids: list[str], count: int) -> list[str]:
    scored = sorted((sha256(f"{seed}:{user}"), user) for user in set(ids))
    return [user for _score, user in scored[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, help="the seed revealed at the draw")
    parser.add_argument("--commitment", required=True, help="sha256(seed), published when the lottery started")
    parser.add_argument("--winners", required=True, type=int, help="how many winners the lottery had")
    parser.add_argument("--digest", help="the entrant list digest from the announcement (checked when given)")
    parser.add_argument("--ids-file", help="a file of entrant ids, one per line")
    parser.add_argument("ids", nargs="*", help="entrant ids")
    args = parser.parse_args(argv)
    ids = list(args.ids)
    if args.ids_file:
        with open(args.ids_file, encoding="utf-8") as lines:
            ids += [line.strip() for line in lines if line.strip()]
    if sha256(args.seed) != args.commitment.lower():
        print("the seed does not match the commitment: it is not the seed committed to at the start", file=sys.stderr)
        return 1
    if args.digest and sha256("\n".join(sorted(set(ids)))) != args.digest.lower():
        print("the entrant ids do not match the announced list digest", file=sys.stderr)
        return 1
    print("\n".join(winners(args.seed, ids, args.winners)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
