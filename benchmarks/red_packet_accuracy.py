"""Red-packet prompt accuracy: how often the deal classifier congratulates the right message, on the
labelled sales-group corpus (tests/data/red_packet_deals.tsv), with the shipped rules' deal words.

    .venv/bin/python -m benchmarks.red_packet_accuracy [--split held_out|dev|all] [--errors]

Printed per split: precision (of the messages prompted, the share that announce the sender's deal),
recall (of those announcements, the share prompted), the counts behind them, and the speed per message.
The rules were written against the dev split; held_out is the fair figure. --errors lists each mistake
with the rule that decided it.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

from bot.deal_intent import announces_deal, classify

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "red_packet_deals.tsv"


def load(path: Path = CORPUS) -> list[tuple[bool, str, str]]:
    """(is a deal, split, text) for each line of the corpus; '#' lines are comments."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, split, text = line.split("\t", 2)
        if label not in ("deal", "other") or split not in ("dev", "held_out"):
            raise ValueError(f"{path.name}:{number}: label must be deal|other and split dev|held_out")
        rows.append((label == "deal", split, text))
    return rows


def shipped_words() -> tuple[str, ...]:
    from plugins.red_packet import RedPacketRules

    rules = tomllib.loads((ROOT / "rules" / "red_packet.toml").read_text(encoding="utf-8"))
    return tuple(RedPacketRules.model_validate(rules).deal_keywords)


def score(rows, words) -> dict:
    tp = fp = fn = tn = 0
    for truth, _split, text in rows:
        said = announces_deal(text, words)
        tp += truth and said
        fp += said and not truth
        fn += truth and not said
        tn += not truth and not said
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}


def per_message_us(rows, words) -> float:
    texts = [text for _t, _s, text in rows] * 20
    start = time.perf_counter()
    for text in texts:
        announces_deal(text, words)
    return (time.perf_counter() - start) / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("held_out", "dev", "all"), default=None)
    parser.add_argument("--errors", action="store_true", help="list every mistake with the deciding rule")
    args = parser.parse_args()
    rows, words = load(), shipped_words()
    splits = [args.split] if args.split else ["dev", "held_out"]
    for split in splits:
        part = rows if split == "all" else [r for r in rows if r[1] == split]
        s = score(part, words)
        print(f"red_packet {split:8}: precision {s['precision']:.1%}  recall {s['recall']:.1%}  "
              f"({s['tp']} prompted right, {s['fp']} wrongly, {s['fn']} missed, {s['tn']} left alone; "
              f"{sum(r[0] for r in part)} deals / {len(part)} messages)")
        if args.errors:
            for truth, _split, text in part:
                verdict = classify(text, words)
                if verdict.deal != truth:
                    print(f"  {'missed' if truth else 'WRONG '} [{verdict.why}] {text}")
    print(f"red_packet speed   : {per_message_us(rows, words):.1f} µs per message (corpus messages, all of them)")


if __name__ == "__main__":
    main()
