"""The labelled anti-ad corpus: what the issue asks of it, made by its generator, and the scorer's shipped
training examples are its training split and nothing of the held-out one."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

from bot import adlearn

DATA = Path(__file__).parent / "data"


def rows() -> list[dict]:
    return [json.loads(line) for line in (DATA / "ads_corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_corpus_has_enough_ads_of_every_class_and_hard_negatives():
    corpus = rows()
    labels = Counter(r["label"] for r in corpus)
    assert labels["ad"] >= 400 and labels["ok"] >= 400 and set(labels) == {"ad", "ok"}
    classes = Counter((r["label"], r["class"]) for r in corpus)
    for cls in ("contact", "phone", "domain", "lure", "help_cut", "qr_teacher", "gambling", "loan", "adult", "coupon"):
        assert classes[("ad", cls)] >= 30, cls
    for cls in ("link_share", "wechat_talk", "side_job", "delivery_phone", "price", "code", "quote_complaint", "laugh"):
        assert classes[("ok", cls)] >= 30, cls
    assert len({r["text"] for r in corpus}) == len(corpus)
    # Held out by template: no template has messages on both sides.
    sides = {}
    for r in corpus:
        assert sides.setdefault(r["family"], r["split"]) == r["split"], r["family"]


def test_the_generator_makes_this_corpus_and_the_scorer_learns_only_its_training_split():
    spec = importlib.util.spec_from_file_location("make_ads_corpus", DATA / "make_ads_corpus.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    assert maker.build() == rows()  # regenerate with `python tests/data/make_ads_corpus.py` after a change
    training = [(r["text"], r["label"] == "ad") for r in rows() if r["split"] == "train"]
    assert list(adlearn.shipped_examples()) == training
