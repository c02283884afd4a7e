"""Anti-ad and flood control: messages are normalised and scored by bot.adscan and counted by bot.flood;
an ad or a flood brings the ladder (warn → mute → remove), every decision is written to the moderation log
(and the admin log).

Admins teach the group: ``/ad`` in reply to a message deletes it, punishes the sender and remembers the
text, so near-copies are caught; ``/notad`` undoes a wrong call and remembers the exception. Offences and
samples live in the database; the scanner, recent messages and flood counters are per-process caches
(a group is served by one process, so its flood counters are whole).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.adscan import ListSpec, NearIndex, Scanner, Signal, Verdict, Weights, compact, fold
from bot.bus import Context, Plugin, Stop
from bot.flood import SWEEP_EVERY, FloodLimits, FloodTracks, drop_oldest
from bot.lru import Recent
from bot.model import DeleteMessage, KickMember, MemberJoined, MessageReceived, MuteMember
from bot.rules import OWNER_ONLY, Patterns, PluginRules
from bot.store.moderation import add_offence, add_sample, drop_offence, drop_samples, last_decision, load_samples, log_decision, undo_decision

MEMBERS_KEPT = 2000  # per group: the members whose join time is kept in memory (newcomer rules)
RECENT_PER_GROUP = 500  # messages kept per group so that /ad can find the one it replies to …
# … from the last hours only: 500 messages in each of 10,000 groups would hold over a gigabyte of text.
RECENT_HOURS = 3
_RECENT_SPAN = timedelta(hours=RECENT_HOURS)
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
    phone: int = Field(2, ge=0, le=10)
    invite: int = Field(2, ge=0, le=10)  # a group number or a group-invite link
    suspicious_link: int = Field(2, ge=0, le=10)  # short links, IP addresses, throwaway top-level domains
    other_link: int = Field(1, ge=0, le=10)  # a link to a domain not on the allow-list
    near_copy: int = Field(2, ge=0, le=10)  # near-identical to an ad an admin marked


class FloodRules(_Strict):
    enabled: bool = True
    max_messages: int = Field(8, ge=2, le=1000)  # more than this many messages …
    seconds: int = Field(10, ge=1, le=3600)  # … within this many seconds is a flood
    max_repeats: int = Field(5, ge=2, le=1000)  # the same message this many times in a row …
    repeat_seconds: int = Field(120, ge=1, le=86_400)  # … within this many seconds


def step_seconds(step: str) -> int:
    m = _STEP.match(step)
    return int(m.group(2)) * _UNITS[m.group(3)] if m and m.group(2) else 0


def _check_ladder(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one step")
    for step in value:
        if not _STEP.match(step):
            raise ValueError(f'step {step!r}: use "warn", "mute <n>m|h|d" or "kick"')
        if not 60 <= step_seconds(step) <= MAX_MUTE_SECONDS and step.startswith("mute"):
            raise ValueError(f"step {step!r}: a mute lasts from 1 minute to 30 days")
    return value


class AntiAdRules(PluginRules):
    # Every key here can let ads through (a threshold of 100, a ladder of warnings, an exempt user, a list
    # emptied), so each is the owner's call; admins teach the scanner with /ad and /notad.
    dry_run: Annotated[bool, OWNER_ONLY] = False  # decide and log, but touch nobody
    delete: Annotated[bool, OWNER_ONLY] = True  # delete the offending message
    threshold: Annotated[int, OWNER_ONLY] = Field(2, ge=1, le=100)  # score at which a message is an ad
    newcomer_threshold: Annotated[int, OWNER_ONLY] = Field(1, ge=1, le=100)  # … for a newcomer
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

    @field_validator("ladder", "newcomer_ladder")
    @classmethod
    def _ladder_steps(cls, value: list[str]) -> list[str]:
        return _check_ladder(value)


    @cached_property
    def plan(self) -> "Plan":
        """What screening needs of these rules, worked out once per rules object (not per message)."""
        flood = self.flood
        limits = FloodLimits.of(flood.max_messages, flood.seconds, flood.max_repeats, flood.repeat_seconds) \
            if flood.enabled else None
        spec = json.dumps([self.model_dump(mode="json", include={"lists", "allow_domains", "weights"})], sort_keys=True)
        return Plan(self, _scanner(spec), frozenset(self.exempt_users), timedelta(hours=self.newcomer_hours),
                    timedelta(hours=self.decay_hours), limits)


@lru_cache(maxsize=256)
def _scanner(spec: str) -> Scanner:
    """The scanner of a rules object's lists, allowed domains and weights (``spec``: them as JSON), shared
    by every group whose rules have the same ones: groups that override other keys do not build their own."""
    rules = json.loads(spec)[0]
    lists = [ListSpec(name, tuple(w["words"]), tuple(w["patterns"]), w["weight"]) for name, w in rules["lists"].items()]
    weights = Weights(**{k: v for k, v in rules["weights"].items() if k != "near_copy"})
    return Scanner(lists, tuple(rules["allow_domains"]), weights)


@dataclass(frozen=True, slots=True)
class Plan:
    """What screening needs of one rules object, worked out once rather than for every message (building
    a timedelta alone costs about 2 µs here)."""

    rules: AntiAdRules
    scanner: Scanner
    exempt: frozenset[str]
    newcomer_span: timedelta
    decay: timedelta  # offences older than this no longer count
    flood: FloodLimits | None  # None: no flood control


@dataclass(slots=True)
class GroupMemory:
    """What this process keeps of one group: the plan of its rules, its recent messages (so that /ad
    finds the one it replies to) and the admin-marked samples (loaded once)."""

    plan: Plan
    recent: OrderedDict = field(default_factory=OrderedDict)  # message id -> (user, name, text, role, at)
    sweep_at: datetime | None = None  # when to look for recent messages beyond the hours again
    samples: dict[str, NearIndex] | None = None


class AntiAdState:
    """This process's caches: each group's memory, its newcomers, and the flood counters."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupMemory] = {}
        # group -> user -> [joined at, messages since], the least recently active forgotten beyond a bound
        # (a forgotten join counts as a long-standing member's)
        self.joined: dict[str, Recent] = {}
        self.flood = FloodTracks()


plugin = Plugin("anti_ad", AntiAdRules, priority=10, state=AntiAdState, watches_all_messages=True)


def group_memory(ctx: Context) -> GroupMemory:
    """This group's memory, its plan following the group's current rules."""
    plan = ctx.rules.plan
    found = ctx.state.groups.get(ctx.group)
    if found is None:
        found = ctx.state.groups[ctx.group] = GroupMemory(plan)
    elif found.plan is not plan:
        found.plan = plan
    return found


async def samples_for(ctx: Context) -> dict[str, NearIndex]:
    """The group's admin-marked ads and exceptions, loaded once from the database."""
    kept = group_memory(ctx)
    if kept.samples is None:
        indexes = {"ad": NearIndex(ctx.rules.near_copy_similarity), "notad": NearIndex(ctx.rules.near_copy_similarity)}
        for row in await ctx.store.run(load_samples, ctx.group):
            indexes[row["kind"]].add(row["id"], row["text"])
        kept.samples = indexes
    return kept.samples


def remember(kept: GroupMemory, ev: MessageReceived) -> None:
    """Keep the message for /ad (which checks its age); forget the oldest beyond the bound, and those
    beyond the hours now and then."""
    recent, at = kept.recent, ev.at
    recent[ev.id] = (ev.user, ev.user_name, ev.text, ev.role, at)
    while len(recent) > RECENT_PER_GROUP:
        recent.popitem(last=False)
    if kept.sweep_at is None or kept.sweep_at < at:
        kept.sweep_at = at + SWEEP_EVERY
        horizon = at - _RECENT_SPAN
        # Mostly nothing is beyond the hours yet: a look at the oldest says so without the walk.
        if next(iter(recent.values()))[4] < horizon:
            drop_oldest(recent, lambda message: message[4] < horizon)


# ----------------------------------------------------------------------------- screening


def is_exempt(ctx: Context, plan: Plan, user: str, role: str) -> bool:
    exempt = plan.exempt
    return role in ("admin", "owner") or bool(exempt) and (user in exempt or f"{ctx.event.platform}:{user}" in exempt)


def _joins(ctx: Context) -> Recent:
    """This group's newcomers (AntiAdState.joined)."""
    found = ctx.state.joined.get(ctx.group)
    if found is None:
        found = ctx.state.joined[ctx.group] = Recent(MEMBERS_KEPT)
    return found


def is_newcomer(ctx: Context, plan: Plan, user: str, at: datetime) -> bool:
    joins = ctx.state.joined.get(ctx.group)
    joined = joins.get(user) if joins else None
    if joined is None:
        return False  # never seen joining: a member from before the bot came
    return joined[1] < plan.rules.newcomer_messages or at - joined[0] < plan.newcomer_span


@plugin.on(MemberJoined)
async def note_join(ctx: Context):
    _joins(ctx)[ctx.event.user] = [ctx.event.at, 0]


def assess(rules: AntiAdRules, plan: Plan, indexes: dict[str, NearIndex], text: str, newcomer: bool) -> tuple[Verdict, bool]:
    """The scan of ``text`` (its ``text`` is the compact form, which flood control reuses) and whether it
    is an ad for this group, given the group's marked samples. (Not a coroutine: the samples are loaded
    by the caller, and a coroutine's frame costs more than the rest of this.)"""
    verdict = plan.scanner.scan(text)
    if indexes["notad"].match(verdict.text):
        return verdict, False  # an admin said a message like this is fine
    near = indexes["ad"].match(verdict.text)
    if near is not None:
        verdict.signals.append(Signal("near_copy", f"sample {near[0]} ({near[1]:.0%})", rules.weights.near_copy))
        verdict.score += rules.weights.near_copy
    return verdict, verdict.score >= (rules.newcomer_threshold if newcomer else rules.threshold)


def flood_check(ctx: Context, plan: Plan, text: str, at: datetime, compacted: str | None = None) -> str | None:
    """"flood" or "repeat" when this message crosses the group's limits (the counters start again then).
    ``compacted`` is ``compact(fold(text))`` when the caller has it already."""
    if plan.flood is None:
        return None
    norm = (compact(fold(text)) if compacted is None else compacted) or text
    return ctx.state.flood.count((ctx.group, ctx.event.user), at, norm, plan.flood)


@plugin.on(MessageReceived)
async def screen(ctx: Context):
    ev = ctx.event
    kept = group_memory(ctx)
    remember(kept, ev)
    text = ev.text.strip()
    plan = kept.plan
    if not text or text[0] in "/／" or is_exempt(ctx, plan, ev.user, ctx.role):
        return None
    newcomer = is_newcomer(ctx, plan, ev.user, ev.at)
    if newcomer:
        _joins(ctx)[ev.user][1] += 1
    indexes = kept.samples or await samples_for(ctx)
    verdict, is_ad = assess(ctx.rules, plan, indexes, text, newcomer)
    if is_ad:
        top = verdict.top
        matched = "; ".join(f"{s.detector}={s.matched}" for s in verdict.signals)
        return await punish(ctx, ev.user, ev.id, top.detector, matched, verdict.text, newcomer)
    # A bot keyword (签到 …) is answered by its plugin, however often it comes: not a flood.
    kind = None if ctx.is_keyword(text) else flood_check(ctx, plan, text, ev.at, verdict.whole)
    if kind is not None:
        return await punish(ctx, ev.user, ev.id, kind, text[:100], verdict.whole or compact(fold(text)), newcomer)
    return None


# ----------------------------------------------------------------------------- the ladder


async def punish(ctx: Context, user: str, message: str, detector: str, matched: str, text: str, newcomer: bool):
    """Delete, then the ladder's step for this member's offence count; log the decision. Returns a list of
    effects, ending with a Stop except in a dry run (which touches nobody and lets the chain go on)."""
    rules: AntiAdRules = ctx.rules
    at = ctx.event.at
    ladder = rules.newcomer_ladder if newcomer else rules.ladder
    decay = group_memory(ctx).plan.decay
    entry = dict(at=at, group_key=ctx.group, user_id=user, message_id=message, plugin=plugin.name,
                 detector=detector, matched=matched[:500], text=text[:1000], dry_run=rules.dry_run)

    def record(conn):
        count = 1 if rules.dry_run else add_offence(conn, ctx.group, user, message, detector, at, at - decay)
        if count is None:
            return None, None
        step = ladder[min(count, len(ladder)) - 1]
        return count, step if log_decision(conn, decision=step, **entry) else None

    count, step = await ctx.store.run(record)
    if step is None:  # another process sharing the database punished this very message: once is enough
        return [Stop(detector)]
    report = ctx.report(f"anti_ad {ctx.group}: {'[dry run] ' if rules.dry_run else ''}{step} for {user} "
                        f"(offence {count}, {detector}: {matched[:200]!r})", detector)
    if rules.dry_run:
        return [report]  # a list like every other outcome: callers unpack it (/ad's confirmation)
    ev = ctx.event
    reason = f"{detector}" if count == 1 else f"offence_{count}"
    actions: list = []
    # Named here: the bus would otherwise copy each action to name the plugin (a pydantic copy apiece).
    name = plugin.name
    if rules.delete and message:
        actions.append(DeleteMessage(platform=ev.platform, group=ev.group, message=message, plugin=name, reason=detector))
    values = dict(detector=detector, count=count, newcomer=newcomer)
    if step == "kick":
        actions.append(KickMember(platform=ev.platform, group=ev.group, user=user, plugin=name, reason=reason))
        actions.append(ctx.send("anti_ad/kicked", reason, mentions=(user,), **values))
    elif step.startswith("mute"):
        seconds = step_seconds(step)
        actions.append(MuteMember(platform=ev.platform, group=ev.group, user=user, seconds=seconds,
                                   plugin=name, reason=reason))
        actions.append(ctx.send("anti_ad/muted", reason, mentions=(user,), minutes=seconds // 60, **values))
    else:
        actions.append(ctx.send("anti_ad/warned", reason, mentions=(user,), **values))
    return [*actions, report, Stop(detector)]


# ----------------------------------------------------------------------------- admin feedback


@plugin.command("ad", "广告", role="admin")
async def mark_ad(ctx: Context):
    ev = ctx.event
    kept = group_memory(ctx)
    found = kept.recent.get(ev.reply_to) if ev.reply_to else None
    if found is None or found[4] < ev.at - _RECENT_SPAN:
        return ctx.reply("anti_ad/mark_usage", "usage")
    user, name, text, role, _at = found
    norm = compact(fold(text))
    indexes = await samples_for(ctx)
    sample = await ctx.store.run(add_sample, ctx.group, "ad", norm, ev.reply_to, ev.user, ev.at)
    taught = indexes["ad"].add(sample, norm)
    confirm = ctx.send("anti_ad/marked", "marked_ad", name=name or user, taught=taught)
    if is_exempt(ctx, kept.plan, user, role):
        return [confirm, Stop("marked_ad")]
    punished = await punish(ctx, user, ev.reply_to, "admin_marked", text[:200], norm, is_newcomer(ctx, kept.plan, user, ev.at))
    return [confirm, *punished, Stop("marked_ad")]


def _target(ctx: Context) -> tuple[str | None, str | None]:
    """(message id, user id) that /notad is about: the message replied to, or a mentioned / named member."""
    ev = ctx.event
    if ev.reply_to:
        return ev.reply_to, None
    if ev.mentions:
        return None, ev.mentions[0]
    return None, (ctx.call.args[0].lstrip("@") if ctx.call.args else None)


@plugin.command("notad", "不是广告", role="admin")
async def not_an_ad(ctx: Context):
    message, user = _target(ctx)
    if message is None and user is None:
        return ctx.reply("anti_ad/notad_usage", "usage")
    indexes = await samples_for(ctx)
    ev = ctx.event

    def undo(conn):
        found = last_decision(conn, ctx.group, message, user)
        if found is None:
            return None, None, []
        drop_offence(conn, ctx.group, found["user_id"], found["message_id"])
        undo_decision(conn, found["id"])
        dropped = drop_samples(conn, ctx.group, "ad", found["message_id"])
        sample = add_sample(conn, ctx.group, "notad", found["text"], found["message_id"], ev.user, ev.at)
        return found, sample, dropped

    found, sample, dropped = await ctx.store.run(undo)
    if found is None:
        return ctx.reply("anti_ad/notad_nothing", "nothing_to_undo")
    for key in dropped:
        indexes["ad"].remove(key)
    indexes["notad"].add(sample, found["text"])
    actions: list = [ctx.report(f"anti_ad {ctx.group}: {found['decision']} for {found['user_id']} undone by {ev.user}", "undone")]
    if found["decision"].startswith("mute"):
        actions.append(MuteMember(platform=ev.platform, group=ev.group, user=found["user_id"], seconds=0,
                                   plugin=plugin.name, reason="undone"))
    actions.append(ctx.send("anti_ad/undone", "undone", mentions=(found["user_id"],), decision=found["decision"]))
    return actions
