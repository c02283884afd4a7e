"""Self-introduction (自我介绍): newcomers introduce themselves by a deadline, with reminders before it.

An introduction is recognised in a pending member's messages, by labels (``城市：上海 行业：电商``) or
by position (``上海 电商 小王``). Position alone is weak evidence (``哈哈 好的 谢谢`` has three parts too), so
it counts only inside the member's window, when every part looks like a value rather than chat, or in an
explicit ``/自我介绍``; after the deadline only labelled fields are taken. It may arrive in pieces (and
with a photo where the group asks for one), is confirmed with a reply, and its fields become the member's tags (``/who 上海``, ``/tags``). At the
deadline the rules' consequence applies: a last reminder, a restriction, or removal — each degraded by
the outbox where the platform cannot (WeChat: a warning instead of a mute).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.bus import Context, Plugin
from bot.model import KickMember, MemberJoined, MemberLeft, MessageReceived, MuteMember, ScheduleFired, SendMessage
from bot.rules import PluginRules
from bot.store.admission import (Case, close_case, forget_member, get_case, group_cases, open_cases, save_case,
                                 save_tags, find_members, member_tags, tag_summary)

INTRO = "intro"
DEADLINE_JOB = "self_intro.deadline"
_SPLIT = re.compile(r"[\s,，;；/|｜、]+|(?<=\S)[-－—]+(?=\S)")
_TRIM = " \t\r\n:：=,，;；。.|｜、-－—"
# Signs that a message is a sentence, not a list of values: questions, exclamations, links, mentions.
_SENTENCE = re.compile(r"[?？!！。~～…]|https?://|www\.|@")
# Everyday chat that happens to split into the right number of parts.
_CHATTER = frozenset("""哈 哈哈 哈哈哈 呵呵 嘿嘿 嗯 嗯嗯 哦 噢 好 好的 好滴 好哒 收到 谢谢 谢啦 多谢 感谢 你好 您好 大家好 早 早上好
    早安 晚安 中午好 下午好 晚上好 欢迎 再见 拜拜 是的 对 对的 没错 可以 行 不行 不是 没有 有 在 在吗 我 你 他 她 大家 今天 明天
    昨天 这个 那个 什么 怎么 为什么 ok okay hi hello thanks thx yes no lol""".split())
_PARTICLE_END = ("吗", "呢", "吧", "啊", "呀", "啦", "嘛", "哈")


class IntroField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")  # the tag it becomes
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
            raise ValueError("reminders are minutes before the deadline, so each must be > 0")
        return sorted(set(values), reverse=True)

    @model_validator(mode="after")
    def _asks_something(self):
        if not self.fields and not self.photo:
            raise ValueError("an introduction needs fields or a photo")
        if len({f.key for f in self.fields}) != len(self.fields):
            raise ValueError("field keys must differ")
        return self

    def hint(self) -> str:
        """The template as newcomers see it: ``城市 / 行业 / 称呼 / 从哪里来（选填）``."""
        parts = [f.label + ("（选填）" if not f.required else "") for f in self.fields]
        return " / ".join(parts) + (" + 一张照片" if self.photo else "")


plugin = Plugin("self_intro", SelfIntroRules, priority=30)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def by_label(rules: SelfIntroRules, text: str) -> dict[str, str]:
    """Fields written with their labels, each value running to the next label. A label counts when a
    colon follows it or when the message has two labels or more, so that "工作很忙" is not an intro."""
    text = unicodedata.normalize("NFKC", text)
    keys = {_norm(name): f.key for f in rules.fields for name in (f.label, *f.aliases)}
    if not keys:
        return {}
    pattern = "|".join(re.escape(name) for name in sorted(keys, key=len, reverse=True))
    hits = list(re.finditer(rf"({pattern})\s*([:：=]?)", text, re.IGNORECASE))
    if len(hits) < 2:
        hits = [h for h in hits if h.group(2)]
    found: dict[str, str] = {}
    for hit, after in zip(hits, [*hits[1:], None]):
        value = text[hit.end(): after.start() if after else len(text)].strip(_TRIM)
        key = keys[_norm(hit.group(1))]
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


def _reminder_times(rules: SelfIntroRules, deadline: datetime) -> list[datetime]:
    return [deadline - timedelta(minutes=m) for m in rules.remind_before_minutes]


def _wake(rules: SelfIntroRules, case: Case) -> datetime | None:
    """When this case next needs the timer: its next reminder, else its deadline."""
    if case.deadline is None:
        return None
    times = _reminder_times(rules, case.deadline)[case.data.get("reminded", 0):]
    return times[0] if times else case.deadline


async def _arm(engine, group: str) -> None:
    rules = engine.rules_for(plugin, group)
    cases = await engine.store.run(group_cases, group, (INTRO,)) if rules else []
    wakes = [w for c in cases if (w := _wake(rules, c))]
    if wakes:
        engine.scheduler.set_timer(group, DEADLINE_JOB, min(wakes).astimezone(engine.tz_for(group)))
    else:
        engine.scheduler.cancel_timer(group, DEADLINE_JOB)


def _pending(ctx: Context) -> set:
    pending = ctx.memory.get(ctx.group)
    if pending is None:  # not setdefault: that would make a set for every message
        pending = ctx.memory[ctx.group] = set()
    return pending


VERIFYING = ("quiz", "review")  # join_threshold's kinds: the window starts when they are let in


async def _open_window(engine, group: str, user: str, name: str, at: datetime, rules: SelfIntroRules) -> Case:
    deadline = at + timedelta(hours=rules.deadline_hours)
    # Reminders that would fall before the start (a short deadline) are skipped, not sent at once.
    skipped = sum(1 for t in _reminder_times(rules, deadline) if t <= at)
    case = Case(group, user, INTRO, name, at, deadline, data={"fields": {}, "reminded": skipped})
    await engine.store.run(save_case, case)
    engine.memory(plugin.name).setdefault(group, set()).add(user)
    await _arm(engine, group)
    return case


async def start_window(engine, event, user: str, name: str, at: datetime) -> list:
    """Start ``user``'s introduction window now, if self_intro is on in the group. join_threshold calls this
    when a newcomer it was verifying (quiz, review) is let in: nobody is chased while still muted or quizzed."""
    group = event.group_key
    rules = engine.rules_for(plugin, group) if plugin.name in engine.plugins else None
    if rules is None:
        return []
    case = await _open_window(engine, group, user, name, at, rules)
    if not rules.prompt_on_join:
        return []
    text = engine.templates.render("self_intro/prompt", name=case.name, hint=rules.hint(), hours=rules.deadline_hours)
    return [SendMessage(platform=event.platform, group=event.group, text=text, mentions=(user,), plugin=plugin.name,
                        reason="intro_asked")]


@plugin.on(MemberJoined)
async def expect(ctx: Context):
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event

    def verifying_or_open(conn):
        return any(get_case(conn, ctx.group, ev.user, kind) for kind in (*VERIFYING, INTRO))

    # join_threshold starts the window when it lets them in (start_window); and a window already open was
    # started by another process sharing the database, which may have let them in before we saw the join.
    if await ctx.store.run(verifying_or_open):
        return None
    case = await _open_window(ctx.engine, ctx.group, ev.user, ev.user_name or ev.user, ev.at, rules)
    if rules.prompt_on_join:
        return ctx.send("self_intro/prompt", "intro_asked", mentions=[ev.user], name=case.name, hint=rules.hint(),
                        hours=rules.deadline_hours)
    return None


@plugin.on(MemberLeft)
async def forget(ctx: Context):
    if ctx.event.user in _pending(ctx):
        _pending(ctx).discard(ctx.event.user)
        await ctx.store.run(forget_member, ctx.group, ctx.event.user, (INTRO,))
        await _arm(ctx.engine, ctx.group)


async def _take(ctx: Context, fields: dict[str, str], photo: bool, command: bool):
    """Add these fields to the member's introduction; confirm it once it is complete."""
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event
    if not fields and not photo and not command:
        return None  # ordinary chat from someone who still owes an introduction

    def step(conn):
        case = get_case(conn, ctx.group, ev.user, INTRO) or Case(ctx.group, ev.user, INTRO, ev.user_name or ev.user, ev.at)
        case.data.setdefault("fields", {}).update(fields)
        case.data["photo"] = case.data.get("photo") or photo
        missing = _missing(rules, case.data)
        if missing:
            if ev.user in _pending(ctx):
                save_case(conn, case)
            return case, missing
        close_case(conn, ctx.group, ev.user, INTRO)
        save_tags(conn, ctx.group, ev.user, ev.user_name or case.name, case.data["fields"], ev.at)
        return case, []

    case, missing = await ctx.store.run(step)
    if missing:
        return ctx.reply("self_intro/incomplete", "intro_incomplete", missing=missing, hint=rules.hint())
    _pending(ctx).discard(ev.user)
    ctx.engine.memory("nickname").get(ctx.group, {}).pop(ev.user, None)  # its fields may now fill the nickname
    await _arm(ctx.engine, ctx.group)
    labels = {f.key: f.label for f in rules.fields}
    shown = [{"label": labels.get(k, k), "value": v} for k, v in case.data["fields"].items()]
    return ctx.reply("self_intro/confirmed", "intro_confirmed", name=ev.user_name or case.name, fields=shown)


def _owes_intro(ev: MessageReceived, _rules, memory: dict, group: str) -> bool:
    """A member whose introduction is pending (as _pending keeps them), saying something not a command."""
    pending = memory.get(group)
    return pending is not None and ev.user in pending and not ev.text.startswith(("/", "／"))


@plugin.on(MessageReceived, when=_owes_intro)
async def listen(ctx: Context):
    ev = ctx.event
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


def _due(rules: SelfIntroRules, slot: datetime):
    def take(conn, group: str):
        reminders, overdue = [], []
        for case in group_cases(conn, group, (INTRO,)):
            if case.deadline is None:
                continue
            if case.deadline <= slot:
                overdue.append(case)
                if rules.on_deadline == "remove":
                    forget_member(conn, group, case.user, (INTRO,))
                else:  # still recognised later, but no more timers
                    case.deadline = None
                    save_case(conn, case)
                continue
            due = sum(1 for t in _reminder_times(rules, case.deadline) if t <= slot)
            if due > case.data.get("reminded", 0):
                case.data["reminded"] = due
                save_case(conn, case)
                reminders.append(case)
        return reminders, overdue
    return take


@plugin.on(ScheduleFired, when=lambda ev, _r: ev.job == DEADLINE_JOB)
async def chase(ctx: Context):
    """Reminders that fell due (one combined message) and deadlines that passed (the consequence)."""
    rules: SelfIntroRules = ctx.rules
    ev = ctx.event
    reminders, overdue = await ctx.store.run(_due(rules, ev.slot), ctx.group)
    await _arm(ctx.engine, ctx.group)
    actions = []
    if reminders:
        actions.append(ctx.send("self_intro/reminder", "intro_reminder", mentions=[c.user for c in reminders],
                                names=[c.name for c in reminders], hint=rules.hint(),
                                deadline=min(c.deadline for c in reminders).astimezone(ctx.tz)))
    if overdue:
        actions.append(ctx.send("self_intro/overdue", f"intro_overdue_{rules.on_deadline}", mentions=[c.user for c in overdue],
                                names=[c.name for c in overdue], consequence=rules.on_deadline, hint=rules.hint(),
                                minutes=rules.restrict_minutes))
    for case in overdue:
        if rules.on_deadline == "restrict":
            actions.append(MuteMember(platform=ev.platform, group=ev.group, user=case.user, seconds=rules.restrict_minutes * 60,
                                      reason="intro_overdue_restrict"))
        elif rules.on_deadline == "remove":
            _pending(ctx).discard(case.user)
            actions.append(KickMember(platform=ev.platform, group=ev.group, user=case.user, reason="intro_overdue_remove"))
    return actions


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


@plugin.command("pending", "待审核", role="admin")
async def show_pending(ctx: Context):
    """Who still owes an introduction — only where join_threshold (whose /pending lists them too) is off."""
    other = ctx.engine.plugins.get("join_threshold")
    if other is not None and ctx.engine.rules_for(other, ctx.group) is not None:
        return None
    cases = await ctx.store.run(group_cases, ctx.group, (INTRO,))
    rows = [{"kind": c.kind, "name": c.name, "user": c.user, "since": c.started_at.astimezone(ctx.tz),
             "deadline": c.deadline.astimezone(ctx.tz) if c.deadline else None, "attempts": 0} for c in cases]
    return ctx.reply("join_threshold/pending", "pending_listed", rows=rows)


@plugin.on_start
async def resume(engine) -> None:
    groups = set()
    for case in await engine.store.run(open_cases, (INTRO,)):
        if engine.serves(case.group):
            engine.memory(plugin.name).setdefault(case.group, set()).add(case.user)
            groups.add(case.group)
    for group in groups:
        await _arm(engine, group)
