"""The learned ad scorer: multinomial naive Bayes over character 1-3-grams of the scanner's compact text,
plus one token per rule signal that fired (so it learns that a phone number next to 快递 is a delivery,
next to 上门 a flyer). Plain Python: counting to train, dictionary look-ups to score.

The shared model learns from the training split of the project's corpus (bot/data/ad_training.jsonl),
lazily, on the first message that needs it; a group's model is the shared one plus what its admins taught
with /ad and /notad (``GroupModel``: those samples count ``sample_weight`` times each). Nothing here holds
module-level mutable state but the shipped examples, read once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import repeat
from pathlib import Path

TRAINING = Path(__file__).resolve().parent / "data" / "ad_training.jsonl"
MAX_CHARS = 200  # a longer message is scored on its first 200 characters: enough to tell, and bounded
# Every run of letters and digits that holds a digit, and every long run of letters, is one placeholder:
# ids and numbers differ from message to message, what surrounds them does not.
_NUMBERS = re.compile(r"[a-z0-9]*\d[a-z0-9]*|[a-z]{6,}")
ALPHA = 1.0  # additive smoothing
MIN_COUNT = 2  # n-grams seen fewer times in training are left out: noise, and memory


def prepared(compacted: str) -> str:
    """The text the model reads: the compact text, numbers and ids as ``0``, at most MAX_CHARS."""
    return _NUMBERS.sub("0", compacted[:MAX_CHARS])


def grams(text: str) -> list[str]:
    """Character 1-, 2- and 3-grams of ``text`` (a prepared text), with repeats."""
    pairs = [a + b for a, b in zip(text, text[1:])]
    return [*text, *pairs, *[p + c for p, c in zip(pairs, text[2:])]]


def tokens(detectors: Iterable[str]) -> list[str]:
    """One token per rule detector that fired ("§phone"): features the n-grams cannot see (links are cut
    out of the compact text)."""
    return ["§" + d for d in detectors]


class Counts:
    """How often each feature occurs in ads and in ordinary messages."""

    def __init__(self) -> None:
        self.ad: dict[str, float] = {}
        self.ok: dict[str, float] = {}
        self.docs = [0.0, 0.0]  # ordinary, ads

    def add(self, features: list[str], is_ad: bool, times: float = 1.0) -> None:
        table = self.ad if is_ad else self.ok
        for f in features:
            table[f] = table.get(f, 0.0) + times
        self.docs[is_ad] += times


class NgramModel:
    """Log-odds weights of the features; ``log_odds`` of a message is the prior's plus its features'."""

    def __init__(self, counts: Counts, min_count: int = MIN_COUNT, alpha: float = ALPHA):
        ad, ok = counts.ad, counts.ok
        vocab = [f for f in set(ad) | set(ok) if ad.get(f, 0) + ok.get(f, 0) >= min_count]
        self.counts, self.alpha = counts, alpha
        self.ad_total = sum(ad.get(f, 0.0) for f in vocab) + alpha * len(vocab)
        self.ok_total = sum(ok.get(f, 0.0) for f in vocab) + alpha * len(vocab)
        self.weights = {f: self.weight(f) for f in vocab}
        ok_docs, ad_docs = counts.docs
        self.bias = math.log((ad_docs + 1) / (ok_docs + 1))

    def weight(self, feature: str, ad_more: float = 0.0, ok_more: float = 0.0) -> float:
        a = self.counts.ad.get(feature, 0.0) + ad_more + self.alpha
        o = self.counts.ok.get(feature, 0.0) + ok_more + self.alpha
        return math.log(a / self.ad_total) - math.log(o / self.ok_total)

    def log_odds(self, features: list[str]) -> float:
        """How much more likely an ad than not, as a log-odds, scaled by the square root of the number of
        features: naive Bayes counts every overlapping n-gram as independent evidence, and a long message
        would otherwise be certain either way."""
        if not features:
            return self.bias
        get = self.weights.get
        return self.bias + sum(map(get, features, repeat(0.0))) / math.sqrt(len(features))


class GroupModel:
    """The shared model plus one group's admin-taught samples: only the weights of the samples' features
    change, so scoring costs a second look-up for those alone."""

    def __init__(self, shared: NgramModel, sample_weight: float):
        self.shared, self.sample_weight = shared, sample_weight
        self.taught: dict[str, list[float]] = {}  # feature -> [ad, ok] taught counts
        self.delta: dict[str, float] = {}

    def teach(self, features: list[str], is_ad: bool, times: int = 1) -> None:
        """An admin's /ad (``is_ad``) or /notad; ``times`` -1 takes a sample back."""
        for f in set(features):
            row = self.taught.setdefault(f, [0.0, 0.0])
            row[0 if is_ad else 1] += times * self.sample_weight * features.count(f)
            shared = self.shared.weights.get(f, 0.0)
            self.delta[f] = self.shared.weight(f, row[0], row[1]) - shared

    def log_odds(self, features: list[str]) -> float:
        base = self.shared.log_odds(features)
        if not self.delta or not features:
            return base
        get = self.delta.get
        return base + sum(map(get, features, repeat(0.0))) / math.sqrt(len(features))


def probability(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))


@lru_cache(maxsize=1)
def shipped_examples() -> tuple[tuple[str, bool], ...]:
    """The training split of the corpus: (text, is an ad). A broken file is an error that names it."""
    rows = []
    for n, line in enumerate(TRAINING.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            rows.append((row["text"], row["label"] == "ad"))
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"{TRAINING}:{n}: not a training example ({exc})") from exc
    return tuple(rows)


def train(examples: Iterable[tuple[list[str], bool]]) -> NgramModel:
    """A model from (features, is an ad) pairs."""
    counts = Counts()
    for features, is_ad in examples:
        counts.add(features, is_ad)
    return NgramModel(counts)


def features_of(verdict) -> list[str]:
    """What the model reads of a scanner's verdict (``bot.adscan.Verdict``): the n-grams of its compact
    text and a token per rule signal."""
    return grams(prepared(verdict.text)) + tokens(s.detector for s in verdict.signals)


def train_on(scanner, examples: Iterable[tuple[str, bool]]) -> NgramModel:
    """A model of (text, is an ad) examples as ``scanner`` (a ``bot.adscan.Scanner``) sees them."""
    return train((features_of(scanner.scan(text)), is_ad) for text, is_ad in examples)
