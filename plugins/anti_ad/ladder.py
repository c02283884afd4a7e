"""What an offence brings: the step of its ladder (ads and floods climb ladders of their own), the
actions the group allows, and words that say only what was done.

What must stay true: the group is told "已删除" only with a deletion that goes out before the words,
"禁言 N 分钟" only with a mute, "已移出" only with a removal, each announcement marked ``after_done`` (the
outbox sends it once they succeeded). Where the group does not allow an action, it is not asked for:
the words say the fallback themselves (please recall, please pause) and the admins are told in the
admin log, so nobody reads the outbox's own fallback sentence twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.bus import Context, Stop
from bot.model import DeleteMessage, KickMember, MuteMember
from bot.store.bans import add_ban
from bot.store.moderation import FLOOD_DETECTORS, add_offence, log_decision
from plugins.anti_ad.rules import AntiAdRules, step_seconds


@dataclass(frozen=True, slots=True)
class Offence:
    """One message to act on: who sent it, which detector decided and on what."""

    user: str
    message: str
    detector: str
    matched: str
    text: str  # the normalised text, for the log and for /notad's exception
    newcomer: bool = False
    weak: bool = False  # a newcomer's message between the newcomer threshold and the members' one

    @property
    def flood(self) -> bool:
        return self.detector in FLOOD_DETECTORS


def ladder_of(rules: AntiAdRules, offence: Offence) -> list[str]:
    if offence.flood:
        return rules.flood.ladder
    return rules.newcomer_ladder if offence.newcomer else rules.ladder


async def punish(ctx: Context, offence: Offence, plugin_name: str) -> list:
    """Delete, then the ladder's step for this member's count of offences of this kind; log the decision.
    Returns a list of effects, ending with a Stop except in a dry run (which touches nobody and lets the
    chain go on)."""
    rules: AntiAdRules = ctx.rules
    at, ladder = ctx.event.at, ladder_of(rules, offence)
    decay = rules.plan.decay
    entry = dict(at=at, group_key=ctx.group, user_id=offence.user, message_id=offence.message, plugin=plugin_name,
                 detector=offence.detector, matched=offence.matched[:500], text=offence.text[:1000], dry_run=rules.dry_run)

    bans = ctx.rules_of("bans")

    def record(conn):
        count = 1 if rules.dry_run else add_offence(conn, ctx.group, offence.user, offence.message, offence.detector, at, at - decay)
        if count is None:
            return None, None
        # A newcomer's weak signal: deleted with a friendly word, whatever the count (it still counts).
        step = "warn" if offence.weak else ladder[min(count, len(ladder)) - 1]
        if not log_decision(conn, decision=step, **entry):
            return count, None
        if step == "kick" and not rules.dry_run and not offence.flood and bans is not None and bans.ban_ad_removals:
            # Banned with the decision it follows from: where the ban list is shared, the advertiser is
            # refused in the set's other groups too (plugins/bans.py; /notad lifts it again).
            add_ban(conn, ctx.event.platform, offence.user, getattr(ctx.event, "user_name", ""), ctx.group, "ad",
                    offence.detector, plugin_name, at)
        return count, step

    count, step = await ctx.store.run(record)
    if step is None:  # another process sharing the database punished this very message: once is enough
        return [Stop(offence.detector)]
    line = (f"anti_ad {ctx.group}: {'[dry run] ' if rules.dry_run else ''}{step} for {offence.user} "
            f"(offence {count}, {offence.detector}: {offence.matched[:200]!r})")
    if rules.dry_run:
        return [ctx.report(line, offence.detector)]  # a list like every other outcome: callers unpack it
    actions, undone = carry_out(ctx, offence, step, count, plugin_name)
    if undone:
        line += f"; not possible in this group, for an admin to do: {', '.join(undone)}"
    return [*actions, ctx.report(line, offence.detector), Stop(offence.detector)]


def carry_out(ctx: Context, offence: Offence, step: str, count: int, plugin_name: str) -> tuple[list, list[str]]:
    """The actions of ``step`` that this group allows, then the words for what was done; and what the
    group does not allow (for the admin log)."""
    ev, rules = ctx.event, ctx.rules
    user, reason = offence.user, offence.detector if count == 1 else f"offence_{count}"
    # Named here: the bus would otherwise copy each action to name the plugin (a pydantic copy apiece).
    common = dict(platform=ev.platform, group=ev.group, plugin=plugin_name)
    actions: list = []
    undone: list[str] = []
    wants_delete = bool(offence.message) and (rules.flood.delete if offence.flood else rules.delete)
    deleted = wants_delete and ctx.can("delete")
    if deleted:
        actions.append(DeleteMessage(message=offence.message, reason=offence.detector, **common))
    elif wants_delete:
        undone.append(f"delete message {offence.message}")
    words = dict(detector=offence.detector, flood=offence.flood, count=count, newcomer=offence.newcomer, weak=offence.weak,
                 deleted=deleted, ask_recall=wants_delete and not deleted, minutes=0, pause_minutes=0,
                 can_punish=ctx.can("mute") or ctx.can("kick"))  # what "再犯…" may promise
    template, done = "anti_ad/warned", deleted
    if step == "kick":
        if ctx.can("kick"):
            actions.append(KickMember(user=user, reason=reason, **common))
            template, done = "anti_ad/kicked", True
        else:
            undone.append(f"remove {user}")
            template = "anti_ad/kick_impossible"
    elif step.startswith("mute"):
        minutes = step_seconds(step) // 60
        words["minutes"] = minutes
        if ctx.can("mute"):
            actions.append(MuteMember(user=user, seconds=minutes * 60, reason=reason, **common))
            template, done = "anti_ad/muted", True
        else:
            undone.append(f"mute {user} for {minutes} minutes")
            words["pause_minutes"] = minutes
    elif offence.flood:
        template = "anti_ad/flood_warned"
    announcement = ctx.send(template, reason, mentions=(user,), **words)
    if done:
        announcement = announcement.model_copy(update={"after_done": True})
    return [*actions, announcement], undone
