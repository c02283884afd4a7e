"""Anti-ad and flood control: messages are normalised and scored by bot.adscan's rules and, where those
leave a message undecided, by bot.adlearn's learned scorer; flood control counts with bot.flood. An ad
and a flood each bring their own ladder (plugins/anti_ad/ladder.py: warn → mute → remove, in words that
say only what the group allows); every decision is written to the moderation log (and the admin log).

Admins teach the group: ``/ad`` in reply to a message deletes it, punishes the sender and remembers the
text, so near-copies are caught and the group's scorer learns it; ``/notad`` undoes a wrong call and
remembers the exception. Offences and samples live in the database; the scanner, the scorer, recent
messages and flood counters are per-process caches. A group is answered by one process; a replica that
only watches it (README: Topologies) keeps its recent messages, newcomers and flood counters with the
shadow handlers, and reloads the samples when it takes the group over, so its memory is whole then.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import adlearn
from bot.adscan import NearIndex, Signal, Verdict, compact, fold
from bot.bus import Context, Plugin, Stop
from bot.flood import SWEEP_EVERY, FloodTracks, drop_oldest
from bot.lru import Recent
from bot.model import ImageScanned, MemberJoined, MessageReceived, MuteMember, ScanImage
from bot.store.bans import lift_bans
from bot.store.moderation import FLOOD_DETECTORS, add_sample, drop_offence, drop_samples, last_decision, load_samples, undo_decision
from plugins.anti_ad.ladder import Offence, punish
from plugins.anti_ad.pictures import qr_signals
from plugins.anti_ad.rules import AntiAdRules, FloodRules, Plan, ScorerRules, WeightRules, WordList, step_seconds

__all__ = ["AntiAdRules", "FloodRules", "Plan", "ScorerRules", "WeightRules", "WordList", "plugin", "step_seconds"]

MEMBERS_KEPT = 2000  # per group: the members whose join time is kept in memory (newcomer rules)
RECENT_PER_GROUP = 500  # messages kept per group so that /ad can find the one it replies to …
# … from the last hours only: 500 messages in each of 10,000 groups would hold over a gigabyte of text.
RECENT_HOURS = 3
_RECENT_SPAN = timedelta(hours=RECENT_HOURS)


@dataclass(slots=True)
class GroupMemory:
    """What this process keeps of one group: the plan of its rules, its recent messages (so that /ad
    finds the one it replies to), the admin-marked samples (loaded once) and its scorer."""

    plan: Plan
    recent: OrderedDict = field(default_factory=OrderedDict)  # message id -> (user, name, text, role, at)
    sweep_at: datetime | None = None  # when to look for recent messages beyond the hours again
    samples: dict[str, NearIndex] | None = None
    taught: dict[int, tuple[bool, str]] = field(default_factory=dict)  # sample id -> (an ad?, its compact text)
    model: adlearn.GroupModel | None = None  # the shared scorer plus ``taught``; None: to be built again


class AntiAdState:
    """This process's caches: each group's memory, its newcomers, and the flood counters."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupMemory] = {}
        # group -> user -> [joined at, messages since], the least recently active forgotten beyond a bound
        # (a forgotten join counts as a long-standing member's)
        self.joined: dict[str, Recent] = {}
        self.flood = FloodTracks()
        # group -> user -> messages seen by this process, only counted where pictures are read for members
        # with few messages (PictureRules.few_messages)
        self.spoken: dict[str, Recent] = {}


plugin = Plugin("anti_ad", AntiAdRules, priority=10, state=AntiAdState, watches_all_messages=True)


def group_memory(ctx: Context) -> GroupMemory:
    """This group's memory, its plan following the group's current rules."""
    plan = ctx.rules.plan
    found = ctx.state.groups.get(ctx.group)
    if found is None:
        found = ctx.state.groups[ctx.group] = GroupMemory(plan)
    elif found.plan is not plan:
        found.plan, found.model = plan, None
    return found


async def samples_for(ctx: Context) -> dict[str, NearIndex]:
    """The group's admin-marked ads and exceptions, loaded once from the database."""
    kept = group_memory(ctx)
    if kept.samples is None:
        indexes = {"ad": NearIndex(ctx.rules.near_copy_similarity), "notad": NearIndex(ctx.rules.near_copy_similarity)}
        for row in await ctx.store.run(load_samples, ctx.group):
            indexes[row["kind"]].add(row["id"], row["text"])
            kept.taught[row["id"]] = (row["kind"] == "ad", row["text"])
        kept.samples = indexes
    return kept.samples


def teach(kept: GroupMemory, sample: int, is_ad: bool, text: str) -> bool:
    """Remember an admin's sample for near-copies and the scorer; whether it was long enough to be a
    near-copy sample."""
    kept.taught[sample] = (is_ad, text)
    kept.model = None
    return kept.samples["ad" if is_ad else "notad"].add(sample, text)


def forget(kept: GroupMemory, samples: list[int]) -> None:
    for key in samples:
        kept.samples["ad"].remove(key)
        kept.samples["notad"].remove(key)
        kept.taught.pop(key, None)
    kept.model = None


def group_model(kept: GroupMemory) -> adlearn.GroupModel | None:
    """The group's scorer (the shared one plus what its admins taught), built when first needed after a
    change; None when the group taught nothing."""
    if not kept.taught:
        return None
    if kept.model is None:
        plan = kept.plan
        kept.model = adlearn.GroupModel(plan.model, plan.rules.scorer.sample_weight)
        for is_ad, text in kept.taught.values():
            kept.model.teach(adlearn.features_of(plan.scanner.scan(text)), is_ad)
    return kept.model


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
@plugin.shadow(MemberJoined)
async def note_join(ctx: Context):
    _joins(ctx)[ctx.event.user] = [ctx.event.at, 0]


@dataclass(slots=True)
class Judgement:
    """The scan of a message and what it comes to: ``detector`` names who decided it is an ad (None: it
    is not); ``weak``: a newcomer's message only the newcomer threshold catches."""

    verdict: Verdict
    detector: str | None = None
    weak: bool = False


def assess(rules: AntiAdRules, plan: Plan, kept: GroupMemory, text: str, newcomer: bool, extra: list[Signal] = ()) -> Judgement:
    """Whether ``text`` is an ad for this group, given its marked samples (loaded by the caller) and its
    scorer. (Not a coroutine: a coroutine's frame costs more than most of this.) The verdict's ``text``
    is the compact form, which flood control reuses."""
    verdict = plan.scanner.scan(text)
    if verdict.score > 0 and _QUOTE_MARKS.search(text):
        verdict = unquoted(plan, verdict, text)
    if extra:  # what a picture's QR codes lead to (plugins/anti_ad/pictures.py)
        verdict.signals[:0] = extra
        verdict.score += sum(s.weight for s in extra)
    indexes = kept.samples
    if indexes["notad"].match(verdict.text):
        return Judgement(verdict)  # an admin said a message like this is fine
    member, threshold = rules.threshold, rules.newcomer_threshold if newcomer else rules.threshold
    # The scorer is asked only where the rules' signals leave it open: some signal fired (or the group's
    # admins taught it: what they teach is what the rules miss), and its word (-2 … +2) could still carry
    # the score across the threshold either way.
    learned = rules.scorer.enabled and (verdict.signals or kept.taught) and threshold - 2 <= verdict.score <= member + 1
    features = adlearn.features_of(verdict) if learned else None
    near = indexes["ad"].match(verdict.text)
    if near is not None:
        verdict.signals.append(Signal("near_copy", f"sample {near[0]} ({near[1]:.0%})", rules.weights.near_copy))
        verdict.score += rules.weights.near_copy
    by_rules = verdict.score
    if learned:
        score_with_model(rules.scorer, plan, kept, verdict, features)
    if verdict.score < threshold:
        return Judgement(verdict)
    decided = verdict.signals[-1].detector if by_rules < threshold else verdict.top.detector
    # A newcomer is punished only where a member would be, and on what the rules themselves find: the
    # scorer's guess may get a newcomer's message deleted with the friendly word, never muted.
    return Judgement(verdict, decided, newcomer and min(by_rules, verdict.score) < member)


# A member who quotes an ad to warn about it or complain: “…”, "…", 「…」, 『…』 (not 【…】, which ads use
# for their own headlines).
_QUOTE_MARKS = re.compile(r"[“”「」『』\"]")
_QUOTED = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』|\"[^\"]*\"")


def unquoted(plan: Plan, verdict: Verdict, text: str) -> Verdict:
    """The verdict on what the member says around a quotation, where that talks about it (a signal that
    takes away: 举报, 骗子, 别信 …): what they quote is not their ad. Otherwise ``verdict`` as it was."""
    outside = _QUOTED.sub("，", text)
    if outside == text:
        return verdict
    around = plan.scanner.scan(outside)
    return around if any(s.weight < 0 for s in around.signals) else verdict


def score_with_model(scorer: ScorerRules, plan: Plan, kept: GroupMemory, verdict: Verdict, features: list[str]) -> None:
    """Add the scorer's word to ``verdict``: "learned", or "learned_group" where what this group's admins
    taught changed it."""
    shared = plan.model.log_odds(features)
    weight, name = scorer.weight(shared), "learned"
    mine = group_model(kept)
    if mine is not None:
        own = mine.log_odds(features)
        if scorer.weight(own) != weight:
            shared, weight, name = own, scorer.weight(own), "learned_group"
    if weight:
        verdict.signals.append(Signal(name, f"{adlearn.probability(shared):.0%}", weight))
        verdict.score += weight


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
    plan = kept.plan
    if is_exempt(ctx, plan, ev.user, ctx.role):
        return None
    judged = await _screen_text(ctx, kept, plan, ev.text.strip())
    if judged or not ev.images or not plan.rules.images.enabled:
        return judged  # an ad by its words is dealt with, pictures and all
    return read_pictures(ctx, plan)


def count_spoken(ctx: Context, plan: Plan) -> None:
    """Count the member's message where pictures are read for members with few messages."""
    if plan.rules.images.ocr == "newcomers" and plan.rules.images.few_messages:
        spoken = ctx.state.spoken.get(ctx.group)
        if spoken is None:
            spoken = ctx.state.spoken[ctx.group] = Recent(MEMBERS_KEPT)
        spoken[ctx.event.user] = spoken.get(ctx.event.user, 0) + 1


async def _screen_text(ctx: Context, kept: GroupMemory, plan: Plan, text: str):
    ev = ctx.event
    count_spoken(ctx, plan)
    if not text or text[0] in "/／":
        return None
    newcomer = is_newcomer(ctx, plan, ev.user, ev.at)
    if newcomer:
        _joins(ctx)[ev.user][1] += 1
    if kept.samples is None:
        await samples_for(ctx)
    judged = assess(ctx.rules, plan, kept, text, newcomer)
    verdict = judged.verdict
    if judged.detector is not None:
        matched = "; ".join(f"{s.detector}={s.matched}" for s in verdict.signals)
        return await punish(ctx, Offence(ev.user, ev.id, judged.detector, matched, verdict.text, newcomer, judged.weak), plugin.name)
    # A bot keyword (签到 …) is answered by its plugin, however often it comes: not a flood.
    kind = None if ctx.is_keyword(text) else flood_check(ctx, plan, text, ev.at, verdict.whole)
    if kind is not None:
        norm = verdict.whole or compact(fold(text))
        return await punish(ctx, Offence(ev.user, ev.id, kind, text[:100], norm, newcomer), plugin.name)
    return None


@plugin.shadow(MessageReceived)
async def watch(ctx: Context):
    """Where another process answers the group: remember what ``screen`` remembers, judging nothing. The
    counters follow the owner's but for the ads it punished (the owner does not count those as a flood):
    a member who posts ads is muted or removed before that difference matters."""
    ev = ctx.event
    kept = group_memory(ctx)
    remember(kept, ev)
    text = ev.text.strip()
    plan = kept.plan
    if is_exempt(ctx, plan, ev.user, ctx.role):
        return
    count_spoken(ctx, plan)
    if not text or text[0] in "/／":
        return
    if is_newcomer(ctx, plan, ev.user, ev.at):
        _joins(ctx)[ev.user][1] += 1
    if not ctx.is_keyword(text):
        flood_check(ctx, plan, text, ev.at)


@plugin.acquired
def reload_samples(state: AntiAdState, group: str) -> None:
    """Taking a group over: its samples are read again from the database on its next message (the
    earlier owner's admins may have marked some with /ad or /notad meanwhile)."""
    kept = state.groups.get(group)
    if kept is not None:
        kept.samples, kept.taught, kept.model = None, {}, None


# ----------------------------------------------------------------------------- pictures


def read_pictures(ctx: Context, plan: Plan) -> list[ScanImage]:
    """Ask for the message's pictures to be read (bot/images.py): QR codes always, the text where the
    group's ``images.ocr`` says so for this member (OCR costs about a second a picture)."""
    ev, rules = ctx.event, plan.rules.images
    spoken = ctx.state.spoken.get(ctx.group)
    ocr = rules.ocr == "all" or rules.ocr == "newcomers" and (
        is_newcomer(ctx, plan, ev.user, ev.at) or (spoken.get(ev.user, 0) if spoken else 0) <= rules.few_messages)
    return [ScanImage(platform=ev.platform, group=ev.group, plugin=plugin.name, reason="picture", image=ref,
                      message=ev.id, user=ev.user, user_name=ev.user_name, role=ctx.role, ocr=ocr)
            for ref in ev.images[:rules.per_message]]


def judge_picture(rules: AntiAdRules, plan: Plan, kept: GroupMemory, codes: tuple[str, ...], text: str, newcomer: bool) -> Judgement:
    """A picture's verdict: its text and QR payloads scanned as a message's words, plus what the codes
    lead to (plugins/anti_ad/pictures.py)."""
    signals = qr_signals(codes, frozenset(plan.scanner.allow_domains), rules.weights.contact)
    return assess(rules, plan, kept, "\n".join([text, *codes]).strip(), newcomer, signals)


@plugin.on(ImageScanned)
async def picture_read(ctx: Context):
    """A picture read: its QR codes' targets and its text judged like a message's (same ladder, same
    exceptions and teaching); an ad deletes the message the picture came in."""
    ev = ctx.event
    words = "\n".join([ev.text, *ev.codes]).strip()
    if ev.problem or not words:
        return None
    kept = group_memory(ctx)
    plan = kept.plan
    found = kept.recent.get(ev.message)
    if found is not None:  # /ad on the picture's message marks what it held
        kept.recent[ev.message] = (found[0], found[1], words, found[3], found[4])
    if kept.samples is None:
        await samples_for(ctx)
    newcomer = is_newcomer(ctx, plan, ev.user, ev.at)
    judged = judge_picture(ctx.rules, plan, kept, ev.codes, ev.text, newcomer)
    if judged.detector is None:
        return None
    matched = "; ".join(f"{s.detector}={s.matched}" for s in judged.verdict.signals)
    return await punish(ctx, Offence(ev.user, ev.message, judged.detector, matched, judged.verdict.text or words[:500],
                                     newcomer, judged.weak), plugin.name)


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
    await samples_for(ctx)
    sample = await ctx.store.run(add_sample, ctx.group, "ad", norm, ev.reply_to, ev.user, ev.at)
    taught = teach(kept, sample, True, norm)
    confirm = ctx.send("anti_ad/marked", "marked_ad", name=name or user, taught=taught)
    if is_exempt(ctx, kept.plan, user, role):
        return [confirm, Stop("marked_ad")]
    offence = Offence(user, ev.reply_to, "admin_marked", text[:200], norm, is_newcomer(ctx, kept.plan, user, ev.at))
    return [confirm, *await punish(ctx, offence, plugin.name), Stop("marked_ad")]


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
    await samples_for(ctx)
    ev = ctx.event

    def undo(conn):
        found = last_decision(conn, ctx.group, message, user)
        if found is None:
            return None, None, []
        drop_offence(conn, ctx.group, found["user_id"], found["message_id"])
        undo_decision(conn, found["id"])
        dropped = drop_samples(conn, ctx.group, "ad", found["message_id"])
        sample = add_sample(conn, ctx.group, "notad", found["text"], found["message_id"], ev.user, ev.at)
        if found["decision"] == "kick":  # the ban that came with the removal goes with it
            lift_bans(conn, ev.platform, found["user_id"], (ctx.group,), ev.user, ev.at, source="ad")
        return found, sample, dropped

    found, sample, dropped = await ctx.store.run(undo)
    if found is None:
        return ctx.reply("anti_ad/notad_nothing", "nothing_to_undo")
    kept = group_memory(ctx)
    forget(kept, dropped)
    teach(kept, sample, False, found["text"])
    decision = found["decision"]
    actions: list = [ctx.report(f"anti_ad {ctx.group}: {decision} for {found['user_id']} undone by {ev.user}", "undone")]
    # A mute that the group did not allow was a warning: there is nothing to lift.
    lifted = decision.startswith("mute") and ctx.can("mute")
    if lifted:
        actions.append(MuteMember(platform=ev.platform, group=ev.group, user=found["user_id"], seconds=0,
                                   plugin=plugin.name, reason="undone"))
    actions.append(ctx.send("anti_ad/undone", "undone", mentions=(found["user_id"],), kind=decision.split(" ")[0],
                            minutes=step_seconds(decision) // 60, lifted=lifted, flood=found["detector"] in FLOOD_DETECTORS))
    return actions
