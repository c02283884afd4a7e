"""Self-introduction (自我介绍): newcomers introduce themselves by a deadline, with reminders before it.

An introduction is recognised in a pending member's messages, by labels (``城市：上海 行业：电商``) or
by position (``上海 电商 小王``). Position alone is weak evidence (``哈哈 好的 谢谢`` has three parts too), so
it counts only inside the member's window, when every part looks like a value rather than chat, or in an
explicit ``/自我介绍``; after the deadline only labelled fields are taken. It may arrive in pieces (and
with a photo where the group asks for one), is confirmed with a reply, and its fields become the member's tags (``/who 上海``, ``/tags``). At the
deadline the rules' consequence applies: a last reminder, a restriction, or removal — announced after it,
once done, where the bot can take it in that group, and otherwise said as a request (keep quiet) or left
to the outbox's fallback (the owner asked to remove). Each member's next reminder
or deadline is a stored timer of its own. A newcomer join_threshold is verifying owes nothing yet: their
window opens when they are let in (``cases.let_in``, in join_threshold's transaction).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.bus import Context, Plugin
from bot.model import MemberJoined, MemberLeft, MessageReceived
from bot.rules import PluginRules
from bot.store.admission import (Case, close_case, find_members, forget_member, get_case, group_cases, member_kinds,
                                 member_tags, save_case, save_tags, tag_summary)
from plugins.admission.cases import (INTRO_DUE, NICKNAME, VERIFYING, CaseKind, Waiting, intro_opened, intro_timer,
                                     nickname_after_intro, nickname_effect, open_intro, reminder_times, removal, restriction,
                                     show_pending)

INTRO = CaseKind.INTRO
_SPLIT = re.compile(r"[\s,，;；/|｜、]+|(?<=\S)[-－—]+(?=\S)")
_TRIM = " \t\r\n:：=,，;；。.|｜、-－—"
# Signs that a message is a sentence, not a list of values: questions, exclamations, links, mentions.
_SENTENCE = re.compile(r"[?？!！。~～…]|https?://|www\.|@")
# Everyday chat that happens to split into the right number of parts.
_CHATTER = frozenset("""哈 哈哈 哈哈哈 呵呵 嘿嘿 嗯 嗯嗯 哦 噢 好 好的 好滴 好哒 收到 谢谢 谢啦 多谢 感谢 你好 您好 大家好 早 早上好
    早安 晚安 中午好 下午好 晚上好 欢迎 再见 拜拜 是的 对 对的 没错 可以 行 不行 不是 没有 有 在 在吗 我 你 他 她 大家 今天 明天
    昨天 这个 那个 什么 怎么 为什么 ok okay hi hello thanks thx yes no lol""".split())
_PARTICLE_END = ("吗", "呢", "吧", "啊", "呀", "啦", "嘛", "哈")


def _tag_key(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,49}", value):
        raise PydanticCustomError("tag_key", "must be a lower-case name like city or job_title (a letter, then letters, "
                                              "digits or _, at most 50)")
    return value


class IntroField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: Annotated[str, AfterValidator(_tag_key)]  # the tag it becomes
    label: str = Field(min_length=1, max_length=20)
    aliases: list[str] = []  # other labels people write for it
    required: bool = True


class SelfIntroRules(PluginRules):
    fields: list[IntroField] = [
        IntroField(key="city", label="城市", aliases=["坐标", "所在地", "base"]),
        IntroField(key="industry", label="行业", aliases=["职业", "工作"]),
        IntroField(key="nickname", label="称呼", aliases=["名字", "昵称"]),
        IntroField(key="source", label="从哪里来", aliases=["来源"], required=False),
    ]
    photo: bool = False  # ask for a photo as well (groups that like to see faces)
    positional: bool = True  # also take bare values in order ("上海 电商 小王") inside the member's window
    max_value_length: int = Field(20, ge=1, le=200)  # a bare value longer than this is chat, not a field
    deadline_hours: float = Field(24, gt=0, le=720)
    remind_before_minutes: list[int] = [360, 60]  # reminders this long before the deadline
    on_deadline: Literal["remind", "restrict", "remove"] = "remind"
    restrict_minutes: int = Field(1440, ge=1, le=43_200)
    prompt_on_join: bool = False  # ask on join (the welcome already does when that plugin is on)
    list_limit: int = Field(30, ge=1, le=200)  # how many members /who lists

    @field_validator("remind_before_minutes")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if any(v <= 0 for v in values):
            raise PydanticCustomError("reminder_not_before", "reminders are minutes before the deadline, so each must be > 0")
        return sorted(set(values), reverse=True)

    @model_validator(mode="after")
    def _asks_something(self):
        if not self.fields and not self.photo:
            raise PydanticCustomError("intro_empty", "an introduction needs fields or a photo")
        if len({f.key for f in self.fields}) != len(self.fields):
            raise PydanticCustomError("field_keys_repeat", "field keys must differ")
        return self

    def hint(self) -> str:
        """The template as newcomers see it: ``城市 / 行业 / 称呼 / 从哪里来（选填）``."""
        parts = [f.label + ("（选填）" if not f.required else "") for f in self.fields]
        return " / ".join(parts) + (" + 一张照片" if self.photo else "")

    @cached_property
    def label_keys(self) -> dict[str, str]:
        """Every label and alias (normalised) -> the key of its field."""
        return {_norm(name): f.key for f in self.fields for name in (f.label, *f.aliases)}

    @cached_property
    def label_regex(self) -> re.Pattern | None:
        """A label (the longest first), then an optional colon; None without fields."""
        if not self.label_keys:
            return None
        pattern = "|".join(re.escape(name) for name in sorted(self.label_keys, key=len, reverse=True))
        return re.compile(rf"({pattern})\s*([:：=]?)", re.IGNORECASE)


class Owing:
    """Who owes an introduction (an open case), and who may owe one soon: newcomers join_threshold is
    verifying, whose window opens when they are let in. Both per group, read lazily (``Waiting``)."""

    def __init__(self) -> None:
        self.intro = Waiting((INTRO,))
        self.verifying = Waiting(VERIFYING)

    def may_owe(self, group: str, user: str) -> bool:
        return self.intro.may_hold(group, user) or self.verifying.may_hold(group, user)

    async def owes(self, ctx: Context, user: str) -> bool:
        """Whether ``user`` owes an introduction now; a newcomer let in since is learnt from the database."""
        if await self.intro.holds(ctx, user):
            return True
        if not await self.verifying.holds(ctx, user):
            return False
        kinds = await ctx.store.run(member_kinds, ctx.group, user, (INTRO, *VERIFYING))
        if kinds.isdisjoint(VERIFYING):
            self.verifying.discard(ctx.group, user)  # let in, or turned away
        if INTRO in kinds:
            await self.intro.add(ctx, user)
            return True
        return False


plugin = Plugin("self_intro", SelfIntroRules, priority=30, state=Owing)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def by_label(rules: SelfIntroRules, text: str) -> dict[str, str]:
    """Fields written with their labels, each value running to the next label. A label counts when a
    colon follows it or when the message has two labels or more, so that "工作很忙" is not an intro."""
    if rules.label_regex is None:
        return {}
    text = unicodedata.normalize("NFKC", text)
    hits = list(rules.label_regex.finditer(text))
    if len(hits) < 2:
        hits = [h for h in hits if h.group(2)]
    found: dict[str, str] = {}
    for hit, after in zip(hits, [*hits[1:], None]):
        value = text[hit.end(): after.start() if after else len(text)].strip(_TRIM)
        key = rules.label_keys[_norm(hit.group(1))]
        if value and key not in found:
            found[key] = value[:200]
    return found


def by_position(rules: SelfIntroRules, text: str) -> dict[str, str]:
    """``上海 电商 小王``: as many parts as there are required fields (or all fields), in order."""
    parts = [p.strip(_TRIM) for p in _SPLIT.split(unicodedata.normalize("NFKC", text).strip()) if p.strip(_TRIM)]
    required = [f for f in rules.fields if f.required]
    for fields in (required, rules.fields):
        if fields and len(parts) == len(fields):
            return {f.key: p[:200] for f, p in zip(fields, parts)}
    return {}


def plausible(rules: SelfIntroRules, text: str, fields: dict[str, str]) -> bool:
    """Whether bare values read as an introduction: no sentence marks, short parts, none of them chat words."""
    if not fields or _SENTENCE.search(unicodedata.normalize("NFKC", text)):
        return False
    values = [_norm(v) for v in fields.values()]
    if len(set(values)) < len(values):
        return False  # "好 好 好"
    return all(len(v) <= rules.max_value_length and v not in _CHATTER and not v.endswith(_PARTICLE_END) for v in values)


def _in_window(conn, group: str, user: str, at: datetime) -> bool:
    case = get_case(conn, group, user, INTRO)
    return case is not None and case.deadline is not None and at <= case.deadline


def _missing(rules: SelfIntroRules, data: dict) -> list[str]:
    labels = [f.label for f in rules.fields if f.required and f.key not in data.get("fields", {})]
    return labels + (["照片"] if rules.photo and not data.get("photo") else [])


@plugin.on(MemberJoined)
async def expect(ctx: Context):
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event

    def open_window(conn):
        kinds = member_kinds(conn, ctx.group, ev.user, (*VERIFYING, INTRO))
        # A newcomer being verified owes nothing until join_threshold lets them in (cases.let_in opens the
        # window then); a window already open was opened by another process sharing the database.
        if kinds:
            return kinds, None
        return kinds, open_intro(conn, rules, ctx.group, ev.user, ev.user_name or ev.user, ev.at)

    kinds, case = await ctx.store.run(open_window)
    if not kinds.isdisjoint(VERIFYING):
        await ctx.state.verifying.add(ctx, ev.user)
        return None
    await ctx.state.intro.add(ctx, ev.user)
    return intro_opened(ctx, rules, case) if case else None


@plugin.on(MemberLeft)
async def forget(ctx: Context):
    user = ctx.event.user
    ctx.state.verifying.discard(ctx.group, user)
    if not await ctx.state.intro.holds(ctx, user):
        return None
    ctx.state.intro.discard(ctx.group, user)
    await ctx.store.run(forget_member, ctx.group, user, (INTRO,))
    return ctx.cancel_timer(INTRO_DUE, key=user)


async def _take(ctx: Context, fields: dict[str, str], photo: bool, command: bool):
    """Add these fields to the member's introduction; confirm it once it is complete."""
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event
    if not fields and not photo and not command:
        return None  # ordinary chat from someone who still owes an introduction
    nickname = ctx.rules_of(NICKNAME)

    def step(conn):
        owed = get_case(conn, ctx.group, ev.user, INTRO)
        case = owed or Case(ctx.group, ev.user, INTRO, ev.user_name or ev.user, ev.at)
        case.data.setdefault("fields", {}).update(fields)
        case.data["photo"] = case.data.get("photo") or photo
        missing = _missing(rules, case.data)
        if missing:
            if owed:
                save_case(conn, case)
            return case, owed, missing, (None, None)
        close_case(conn, ctx.group, ev.user, INTRO)
        save_tags(conn, ctx.group, ev.user, ev.user_name or case.name, case.data["fields"], ev.at)
        # Its fields may now fill the nickname: nickname's look, in this transaction (cases.nickname_after_intro).
        if nickname is None:
            return case, owed, [], (None, None)
        return case, owed, [], nickname_after_intro(conn, nickname, ctx.group, ev.user, ev.user_name, ev.role, ev.at)

    case, owed, missing, (what, card) = await ctx.store.run(step)
    if missing:
        return ctx.reply("self_intro/incomplete", "intro_incomplete", missing=missing, hint=rules.hint())
    ctx.state.intro.discard(ctx.group, ev.user)
    labels = {f.key: f.label for f in rules.fields}
    shown = [{"label": labels.get(k, k), "value": v} for k, v in case.data["fields"].items()]
    return [ctx.reply("self_intro/confirmed", "intro_confirmed", name=ev.user_name or case.name, fields=shown),
            *(nickname_effect(ctx, nickname, what, card, ev.user, ev.user_name) if nickname else []),
            *([ctx.cancel_timer(INTRO_DUE, key=ev.user)] if owed else [])]


def _owes_intro(ev: MessageReceived, _rules, state: Owing, group: str) -> bool:
    """A member who owes an introduction (or may: see ``Owing``), saying something not a command."""
    return state.may_owe(group, ev.user) and not ev.text.startswith(("/", "／"))


@plugin.on(MessageReceived, when=_owes_intro)
async def listen(ctx: Context):
    ev = ctx.event
    if not await ctx.state.owes(ctx, ev.user):
        return None
    rules: SelfIntroRules = ctx.rules
    fields = by_label(rules, ev.text)
    if not fields and rules.positional:
        bare = by_position(rules, ev.text)
        # Bare values count only while the member still owes the introduction (not after the deadline).
        if plausible(rules, ev.text, bare) and await ctx.store.run(_in_window, ctx.group, ev.user, ev.at):
            fields = bare
    return await _take(ctx, fields, ev.kind == "image", command=False)


@plugin.command("intro", "自我介绍")
async def introduce(ctx: Context):
    """``/自我介绍 城市：上海 …``: introduce yourself (again) at any time; bare values count here, as it is explicit."""
    if not ctx.call.args:
        return ctx.reply("self_intro/prompt", "intro_usage", name=ctx.event.user_name, hint=ctx.rules.hint(), hours=None)
    text = ctx.call.rest
    return await _take(ctx, by_label(ctx.rules, text) or by_position(ctx.rules, text), False, command=True)


def _due(conn, rules: SelfIntroRules, group: str, at: datetime, key: str):
    """Every introduction of the group with a reminder or its deadline due by ``at``, updated: the
    reminders' count, and past the deadline no more timers (or, removed, no case). Locked, so that two
    processes firing two members' timers at once do not both remind a third. Returns the reminded, the
    overdue, and the cases whose timer is to be set again: the reminded, and ``key``'s own when nothing
    was due for it (its timer fired early by rules changed since)."""
    reminders, overdue, again = [], [], []
    for case in group_cases(conn, group, (INTRO,), lock=True):
        if case.deadline is None:
            continue
        if case.deadline <= at:
            overdue.append(case)
            if rules.on_deadline == "remove":
                forget_member(conn, group, case.user, (INTRO,))
            else:  # still recognised later, but no more timers
                case.deadline = None
                save_case(conn, case)
            continue
        due = sum(1 for t in reminder_times(rules, case.deadline) if t <= at)
        if due > case.data.get("reminded", 0):
            case.data["reminded"] = due
            save_case(conn, case)
            reminders.append(case)
            again.append(case)
        elif case.user == key:
            again.append(case)
    return reminders, overdue, again


@plugin.timer(INTRO_DUE)
async def chase(ctx: Context):
    """A member's reminder or deadline fell due. Everyone else's due by then comes along: reminders in one
    combined message, deadlines passed with the consequence; each reminded member's timer moves on."""
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event
    reminders, overdue, again = await ctx.store.run(_due, rules, ctx.group, ev.due, ev.key)
    actions = []
    if reminders:
        actions.append(ctx.send("self_intro/reminder", "intro_reminder", mentions=[c.user for c in reminders],
                                names=[c.name for c in reminders], hint=rules.hint(),
                                deadline=min(c.deadline for c in reminders).astimezone(ctx.tz)))
    if overdue:
        actions += _consequence(ctx, rules, overdue)
    actions += [timer for case in again for timer in intro_timer(ctx, rules, case)]
    # Others whose deadline this sweep took: their own timers have nothing left to do.
    return actions + [ctx.cancel_timer(INTRO_DUE, key=c.user) for c in overdue if c.user != ev.key]


def _consequence(ctx: Context, rules: SelfIntroRules, overdue: list[Case]) -> list:
    """The deadline's consequence for ``overdue`` members, and what the group is told of it."""
    users, reason = [c.user for c in overdue], f"intro_overdue_{rules.on_deadline}"
    said = dict(names=[c.name for c in overdue], consequence=rules.on_deadline, hint=rules.hint(), minutes=rules.restrict_minutes)
    if rules.on_deadline == "restrict":
        return restriction(ctx, users, rules.restrict_minutes * 60, "self_intro/overdue", reason, **said)
    if rules.on_deadline == "remove":
        for user in users:
            ctx.state.intro.discard(ctx.group, user)
        return removal(ctx, users, "self_intro/overdue", reason, **said)
    return [ctx.send("self_intro/overdue", reason, mentions=users, **said)]


@plugin.command("who", "找人", role="admin")
async def who(ctx: Context):
    if not ctx.call.args:
        return ctx.reply("self_intro/who_usage", "usage")
    rows = await ctx.store.run(find_members, ctx.group, ctx.call.rest, ctx.rules.list_limit)
    labels = {f.key: f.label for f in ctx.rules.fields}
    return ctx.reply("self_intro/who", "who_listed", query=ctx.call.rest, rows=rows, labels=labels)


@plugin.command("tags", "标签", role="admin")
async def tags(ctx: Context):
    """``/tags``: the group's tags and their commonest values; ``/tags <user id>``: one member's."""
    labels = {f.key: f.label for f in ctx.rules.fields}
    if ctx.call.args:
        user = ctx.call.args[0].lstrip("@")
        found = await ctx.store.run(member_tags, ctx.group, user)
        return ctx.reply("self_intro/member_tags", "tags_listed", user=user, tags=found, labels=labels)
    summary = await ctx.store.run(tag_summary, ctx.group, 5)
    return ctx.reply("self_intro/tags", "tags_listed", summary=summary, labels=labels)


# The family's one /pending (cases.show_pending), offered here too for groups without join_threshold;
# where both are on, join_threshold's answers.
plugin.command("pending", "待审核", role="admin")(show_pending)
