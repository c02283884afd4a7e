"""anti_ad's rules (rules/anti_ad.toml) and what screening works out of them once per rules object: the
scanner of its lists, the learned scorer trained as that scanner sees, the flood limits."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot import adlearn
from bot.adscan import ListSpec, Scanner, Weights
from bot.flood import FloodLimits
from bot.rules import OWNER_ONLY, Patterns, PluginRules

_STEP = re.compile(r"^(warn|kick|mute (\d+)([mhd]))$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}
# QQ refuses longer mutes and Telegram reads more than 366 days as "forever": an owner's typo must not.
MAX_MUTE_SECONDS = 30 * 86400


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WordList(_Strict):
    words: list[str] = []  # matched after normalisation, anywhere in the message
    patterns: Patterns = []  # regular expressions over the normalised text (no spaces, simplified, lower case)
    weight: int = Field(1, ge=-5, le=10)  # what each distinct hit adds to the score (negative: takes away)


class WeightRules(_Strict):
    contact: int = Field(2, ge=0, le=10)  # a WeChat id or QQ number after a (disguised) cue
    phone: int = Field(2, ge=0, le=10)  # a mobile, landline (with area code) or 400/800 number
    invite: int = Field(2, ge=0, le=10)  # a group number or a group-invite link
    suspicious_link: int = Field(2, ge=0, le=10)  # short links, IP addresses, throwaway or brand-dressed domains
    other_link: int = Field(1, ge=0, le=10)  # a link to a domain not on the allow-list
    shop_code: int = Field(1, ge=0, le=10)  # a shopping app's password (￥AbC123xyz￥)
    near_copy: int = Field(2, ge=0, le=10)  # near-identical to an ad an admin marked


def step_seconds(step: str) -> int:
    m = _STEP.match(step)
    return int(m.group(2)) * _UNITS[m.group(3)] if m and m.group(2) else 0


def check_ladder(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one step")
    for step in value:
        if not _STEP.match(step):
            raise ValueError(f'step {step!r}: use "warn", "mute <n>m|h|d" or "kick"')
        if not 60 <= step_seconds(step) <= MAX_MUTE_SECONDS and step.startswith("mute"):
            raise ValueError(f"step {step!r}: a mute lasts from 1 minute to 30 days")
    return value


class FloodRules(_Strict):
    enabled: bool = True
    max_messages: int = Field(8, ge=2, le=1000)  # more than this many messages …
    seconds: int = Field(10, ge=1, le=3600)  # … within this many seconds is a flood
    max_repeats: int = Field(5, ge=2, le=1000)  # the same message this many times in a row …
    repeat_seconds: int = Field(120, ge=1, le=86_400)  # … within this many seconds
    # A ladder of its own: floods never count toward the ad ladder, nor ads toward this one.
    ladder: list[str] = ["warn", "mute 10m", "mute 1h"]
    delete: bool = False  # delete the message that crossed the limit

    @field_validator("ladder")
    @classmethod
    def _ladder_steps(cls, value: list[str]) -> list[str]:
        return check_ladder(value)


class PictureRules(_Strict):
    """Pictures (bot/images.py): QR codes are read in every picture; the text only where ``ocr`` says."""

    enabled: bool = True
    # "newcomers": OCR for newcomers and members with fewer than ``few_messages`` messages seen; "all"; "off".
    ocr: Literal["newcomers", "all", "off"] = "newcomers"
    few_messages: int = Field(20, ge=0, le=10_000)
    per_message: int = Field(3, ge=1, le=20)  # pictures of one message read at most


class ScorerRules(_Strict):
    """The learned scorer, consulted when the rules' signals leave a message undecided: its probability
    that the message is an ad adds to the score or takes from it."""

    enabled: bool = True
    sure_above: float = Field(0.95, gt=0.5, lt=1.0)  # at or above: adds 2
    ad_above: float = Field(0.9, gt=0.5, lt=1.0)  # at or above: adds 1
    ok_below: float = Field(0.4, gt=0.0, lt=0.5)  # at or below: takes 1 off
    sure_ok_below: float = Field(0.2, gt=0.0, lt=0.5)  # at or below: takes 2 off
    sample_weight: float = Field(20, ge=0, le=1000)  # each /ad or /notad of the group counts as this many corpus examples

    @model_validator(mode="after")
    def _ordered(self):
        if not self.sure_ok_below <= self.ok_below < self.ad_above <= self.sure_above:
            raise ValueError("needs sure_ok_below ≤ ok_below < ad_above ≤ sure_above")
        return self

    @cached_property
    def bands(self) -> tuple[float, float, float, float]:
        """The four cut-offs as log-odds (what the model gives), highest first."""
        logit = lambda p: math.log(p / (1 - p))  # noqa: E731
        return logit(self.sure_above), logit(self.ad_above), logit(self.ok_below), logit(self.sure_ok_below)

    def weight(self, log_odds: float) -> int:
        sure, ad, ok, sure_ok = self.bands
        return 2 if log_odds >= sure else 1 if log_odds >= ad else -2 if log_odds <= sure_ok else -1 if log_odds <= ok else 0


class AntiAdRules(PluginRules):
    # Every key here can let ads through (a threshold of 100, a ladder of warnings, an exempt user, a list
    # emptied), so each is the owner's call; admins teach the scanner with /ad and /notad.
    dry_run: Annotated[bool, OWNER_ONLY] = False  # decide and log, but touch nobody
    delete: Annotated[bool, OWNER_ONLY] = True  # delete the offending message
    threshold: Annotated[int, OWNER_ONLY] = Field(2, ge=1, le=100)  # score at which a message is an ad
    # … for a newcomer: between the two, a newcomer's message is deleted with a friendly word, not punished
    newcomer_threshold: Annotated[int, OWNER_ONLY] = Field(1, ge=1, le=100)
    newcomer_messages: Annotated[int, OWNER_ONLY] = Field(5, ge=0, le=1000)  # a member who joined is a newcomer for this many messages …
    newcomer_hours: Annotated[int, OWNER_ONLY] = Field(24, ge=0, le=24 * 365)  # … or this many hours, whichever ends later
    ladder: Annotated[list[str], OWNER_ONLY] = ["warn", "mute 30m", "kick"]
    newcomer_ladder: Annotated[list[str], OWNER_ONLY] = ["mute 1h", "kick"]
    decay_hours: Annotated[int, OWNER_ONLY] = Field(72, ge=1, le=24 * 365)  # offences older than this no longer count
    exempt_users: Annotated[list[str], OWNER_ONLY] = []  # user ids ("12345" or "qq:12345") never screened
    allow_domains: Annotated[list[str], OWNER_ONLY] = []  # links to these domains (and their subdomains) are fine
    near_copy_similarity: Annotated[float, OWNER_ONLY] = Field(0.6, ge=0.3, le=1.0)
    weights: Annotated[WeightRules, OWNER_ONLY] = WeightRules()
    lists: Annotated[dict[str, WordList], OWNER_ONLY] = {}  # detector name → words and patterns
    flood: Annotated[FloodRules, OWNER_ONLY] = FloodRules()
    scorer: Annotated[ScorerRules, OWNER_ONLY] = ScorerRules()
    images: Annotated[PictureRules, OWNER_ONLY] = PictureRules()

    @field_validator("ladder", "newcomer_ladder")
    @classmethod
    def _ladder_steps(cls, value: list[str]) -> list[str]:
        return check_ladder(value)

    @cached_property
    def plan(self) -> "Plan":
        """What screening needs of these rules, worked out once per rules object (not per message)."""
        flood = self.flood
        limits = FloodLimits.of(flood.max_messages, flood.seconds, flood.max_repeats, flood.repeat_seconds) \
            if flood.enabled else None
        spec = json.dumps([self.model_dump(mode="json", include={"lists", "allow_domains", "weights"})], sort_keys=True)
        return Plan(self, _scanner(spec), spec, frozenset(self.exempt_users), timedelta(hours=self.newcomer_hours),
                    timedelta(hours=self.decay_hours), limits)


@lru_cache(maxsize=256)
def _scanner(spec: str) -> Scanner:
    """The scanner of a rules object's lists, allowed domains and weights (``spec``: them as JSON), shared
    by every group whose rules have the same ones: groups that override other keys do not build their own."""
    rules = json.loads(spec)[0]
    lists = [ListSpec(name, tuple(w["words"]), tuple(w["patterns"]), w["weight"]) for name, w in rules["lists"].items()]
    weights = Weights(**{k: v for k, v in rules["weights"].items() if k != "near_copy"})
    return Scanner(lists, tuple(rules["allow_domains"]), weights)


@lru_cache(maxsize=16)
def shared_model(spec: str) -> adlearn.NgramModel:
    """The scorer trained on the shipped examples as the scanner of ``spec`` sees them (its signals are
    features), on first use: start-up does not wait for it, and every group on the same lists shares it."""
    return adlearn.train_on(_scanner(spec), adlearn.shipped_examples())


@dataclass(frozen=True, slots=True)
class Plan:
    """What screening needs of one rules object, worked out once rather than for every message (building
    a timedelta alone costs about 2 µs here)."""

    rules: AntiAdRules
    scanner: Scanner
    spec: str  # the lists, allowed domains and weights as JSON: the key of the scanner and the shared model
    exempt: frozenset[str]
    newcomer_span: timedelta
    decay: timedelta  # offences older than this no longer count
    flood: FloodLimits | None  # None: no flood control

    @property
    def model(self) -> adlearn.NgramModel:
        return shared_model(self.spec)
