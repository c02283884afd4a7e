"""Nickname rules (群昵称格式): a pattern per group such as ``{city}-{industry}-{nickname}``.

Checked on join, on a rename and when the member speaks. When the member's introduction tags fill the
pattern and the rules allow it, the bot asks to set the card itself (QQ does; elsewhere the outbox turns
it into a reminder with the suggested name); otherwise it reminds, after a grace period and at most once
per interval. Owners and admins are exempt unless the rules say otherwise. When an introduction is
confirmed, self_intro takes this plugin's look in the same transaction (``cases.nickname_after_intro``),
so the card follows the introduction at once.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot import safe_regex
from bot.bus import Context, Plugin
from bot.lru import Recent
from bot.model import MemberJoined, MemberRenamed, MessageReceived
from bot.rules import PluginRules
from bot.store.admission import prompted_users
from plugins.admission.cases import NEVER, CaseKind, nickname_decision, nickname_effect

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
MEMBERS_KEPT = 5000  # per group: members whose last looked-at name is cached (a miss asks the database)


class NicknameRules(PluginRules):
    # How {keys} read in reminders; before the pattern, whose check reads it.
    labels: dict[str, str] = {"city": "城市", "industry": "行业", "nickname": "称呼"}
    pattern: str = Field("{city}-{industry}-{nickname}", max_length=100)
    separators: str = Field("-_|/·", min_length=1)  # any of these may stand where the pattern has one
    max_part_length: int = Field(20, ge=1, le=60)
    set_card: bool = True  # fill the name from the member's introduction (QQ sets the card itself)
    grace_minutes: int = Field(60, ge=0, le=43_200)  # no reminder this soon after joining
    remind_every_minutes: int = Field(720, ge=1, le=43_200)  # at most one reminder per member per interval
    exempt_admins: bool = True
    newcomers_only: bool = True  # only members the bot saw join (old members are not nagged at deployment)

    @field_validator("pattern")
    @classmethod
    def _has_parts(cls, pattern: str, info: ValidationInfo) -> str:
        if not _PLACEHOLDER.search(pattern):
            raise PydanticCustomError("pattern_no_parts", "the pattern needs at least one {field}, like {city}-{industry}-{nickname}")
        labels = info.data.get("labels")
        unlabelled = [key for key in _PLACEHOLDER.findall(pattern) if labels is not None and key not in labels]
        if unlabelled:  # a typo ({ctiy}), or a part reminders could only name in English
            raise PydanticCustomError(
                "placeholder_unlabelled", "{{tag}} is not one of the labelled parts ({known}): fix the name, or add "
                "labels.{tag} = \"…\" (how reminders name it)", {"tag": unlabelled[0], "known": ", ".join(labels)})
        return pattern

    @model_validator(mode="after")
    def _compiles(self) -> "NicknameRules":
        self.regex  # what RE2 cannot take (a pattern too large for its memory budget) is refused here
        return self

    def hint(self) -> str:
        """The pattern as people read it: ``城市-行业-称呼``."""
        return _PLACEHOLDER.sub(lambda m: self.labels.get(m.group(1), m.group(1)), self.pattern)

    @cached_property
    def regex(self) -> safe_regex.SafeRegex:
        """What a fitting name looks like (after NFKC): each {field} a run of non-separators."""
        seps = re.escape(unicodedata.normalize("NFKC", self.separators))
        out, last = "", 0
        for m in _PLACEHOLDER.finditer(self.pattern):
            out += _literal(self.pattern[last:m.start()], seps) + rf"[^{seps}\s]{{1,{self.max_part_length}}}"
            last = m.end()
        # RE2: placeholders side by side ("{a}{a}{a}…") backtrack exponentially on sre, not here.
        return safe_regex.compile(out + _literal(self.pattern[last:], seps))

    @cached_property
    def separator_run(self) -> re.Pattern:
        return re.compile(rf"[{re.escape(self.separators)}\s]+")

    def fits(self, name: str) -> bool:
        return self.regex.fullmatch(unicodedata.normalize("NFKC", name).strip()) is not None

    def fill(self, tags: dict[str, str]) -> str | None:
        """The name the pattern gives with these tags, or None when one is missing."""
        keys = _PLACEHOLDER.findall(self.pattern)
        if not all(tags.get(k) for k in keys):
            return None
        return _PLACEHOLDER.sub(lambda m: self.separator_run.sub("", tags[m.group(1)])[: self.max_part_length], self.pattern)


def _literal(text: str, seps: str) -> str:
    """Pattern text between fields: a separator matches any separator, anything else itself."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(rf"\s*[{seps}]\s*" if re.fullmatch(f"[{seps}]", c) else re.escape(c) for c in text)


class Looked:
    """What this process remembers per group: the members seen joining (read once per group: with
    ``newcomers_only`` nobody else is looked at, and asking the database about each on first sight cost a
    query apiece), and for the members looked at lately the name looked at and when to look again."""

    def __init__(self) -> None:
        self.watched: dict[str, set[str]] = {}
        self.recent: dict[str, Recent] = {}  # group -> user -> (name, look again at); bounded per group

    def members(self, group: str) -> Recent:
        found = self.recent.get(group)
        if found is None:  # bounded: a long-running bot sees ever more members come and go
            found = self.recent[group] = Recent(MEMBERS_KEPT)
        return found


plugin = Plugin("nickname", NicknameRules, priority=40, state=Looked)


@plugin.check
def fields_known(rules: NicknameRules, rules_of, _rules_dir) -> list[tuple[str, str]]:
    """Every {part} of the pattern is a field of the introduction, which is what fills it (the tags)."""
    intro = rules_of("self_intro")
    if intro is None:
        return []
    keys = [f.key for f in intro.fields]
    return [("pattern", f"{{{key}}} is not a field of the introduction (self_intro.toml fields: {', '.join(keys)}), "
                        "so no member's introduction can fill it")
            for key in dict.fromkeys(_PLACEHOLDER.findall(rules.pattern)) if key not in keys]


async def _watched(ctx: Context) -> set[str]:
    watched = ctx.state.watched.get(ctx.group)
    if watched is None:
        users = await ctx.store.run(prompted_users, ctx.group, CaseKind.NICKNAME_SEEN)
        watched = ctx.state.watched.setdefault(ctx.group, users)
    return watched


def _due_a_look(ev: MessageReceived, rules: NicknameRules, state: Looked, group: str) -> bool:
    """The bus's filter for on_message, from memory alone: not for an exempt admin, nor a member from
    before the bot watched joins (once that set is loaded), nor a member whose name was looked at and is
    not due again. Per member the state keeps the name last looked at and when to look again, so a
    name that fits, or one that does not but is not due, costs a look-up."""
    if rules.exempt_admins and ev.role != "member":
        return False
    watched = state.watched.get(group)
    if rules.newcomers_only and watched is not None and ev.user not in watched:
        return False
    members = state.recent.get(group)
    seen = members.get(ev.user) if members is not None else None
    return seen is None or seen[0] != ev.user_name or seen[1] <= ev.at


async def check(ctx: Context, user: str, name: str, role: str, joining: bool = False):
    rules: NicknameRules = ctx.rules
    if rules.exempt_admins and role != "member":
        return None
    if rules.newcomers_only and not joining and user not in await _watched(ctx):
        return None  # a member from before (most of the chat): nothing to ask, nothing to remember
    members = ctx.state.members(ctx.group)
    # A name looked at and not due again never gets here: on_message's filter (_due_a_look) declines it,
    # a rename forgets the member first and a join is always looked at.
    if rules.fits(name):
        members[user] = (name, NEVER)
        return None
    what, card, next_due = await ctx.store.run(nickname_decision, rules, ctx.group, user, ctx.event.at, joining)
    if joining:
        (await _watched(ctx)).add(user)
    members[user] = (name, next_due)
    return nickname_effect(ctx, rules, what, card, user, name)


@plugin.on(MessageReceived, when=_due_a_look)
async def on_message(ctx: Context):
    ev = ctx.event
    return await check(ctx, ev.user, ev.user_name, ev.role)


@plugin.on(MemberRenamed)
async def on_rename(ctx: Context):
    ev = ctx.event
    members = ctx.state.recent.get(ctx.group)
    if members is not None:
        members.pop(ev.user, None)  # a new name deserves a fresh look
    return await check(ctx, ev.user, ev.user_name, ev.role)


@plugin.on(MemberJoined)
async def on_join(ctx: Context):
    ev = ctx.event
    return await check(ctx, ev.user, ev.user_name or "", "member", joining=True)
