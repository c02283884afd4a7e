"""Keyword answers (词条 / 关键词回复): "群规", "怎么报名", "资料在哪" answered from a book of entries.

An entry answers a message that is exactly one of its words, contains one, or matches one of its
patterns (RE2, bot/safe_regex.py); the text is folded first (full-width → half-width, lower case,
traditional → simplified), so ＱＱ群 and qq群 are one word. The rule file's entries are Jinja2 templates
(with a picture from the rules folder, if given) and may be overridden per group; admins add plain-text
entries from the chat (``/词条 添加``), stored per group. A message gets at most one answer: the first
entry that matches (exact words, then contained words — longer first —, then patterns) decides, and
when that entry is cooling down in this group nothing is said. Commands and other plugins' keywords
(签到) are never answered; the adapters drop the bot's own messages, and ``ignore_users`` names other bots.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated

import jinja2
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from bot.adscan import fold
from bot.bus import Context, Plugin
from bot.model import MessageReceived, SendMessage
from bot.rules import Patterns, PluginRules, RulesFolder, resolve_inside
from bot.safe_regex import compile as compile_pattern
from bot.store.profiles import claim_prompt
from bot.store.replies import add_entry, all_chat_entries, chat_entries, drop_entry

Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# How long a group's chat entries are trusted before they are read again. Every process that receives a
# group's /词条 command drops its copy at once; this is the backstop for one that did not (a replica that
# took the group over later).
CHAT_ENTRIES_TTL = timedelta(minutes=10)
_ADD = re.compile(r"^\S+\s+\S+\s+(?:(包含|精确|contains|exact)\s+)?(\S+)\s+(.+)$", re.DOTALL)
_MATCH_WORDS = {"包含": "contains", "contains": "contains", "精确": "exact", "exact": "exact", None: "exact"}
_SUBCOMMANDS = {"添加": "add", "add": "add", "删除": "delete", "del": "delete", "delete": "delete",
                "列表": "list", "list": "list"}


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    exact: list[Word] = []  # the whole message is one of these
    contains: list[Word] = []  # the message contains one of these
    patterns: Patterns = []  # RE2, over the folded text
    answer: str = Field("", max_length=4000)  # a Jinja2 template: {{ name }}, {{ user }}, {{ text }}
    image: RulesFolder = ""  # a picture inside the rules folder, sent with the answer
    cooldown_seconds: int | None = Field(None, ge=0, le=604_800)  # None: the rules' cooldown_seconds
    enabled: bool = True  # a group's table may switch one entry off

    @field_validator("answer")
    @classmethod
    def _template(cls, answer: str) -> str:
        try:
            jinja2.Environment().parse(answer)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"the answer is not a valid template: {exc.message} (line {exc.lineno})") from None
        return answer

    @model_validator(mode="after")
    def _complete(self):
        if not (self.exact or self.contains or self.patterns):
            raise ValueError("an entry needs exact words, contained words or patterns")
        if not (self.answer.strip() or self.image):
            raise ValueError("an entry needs an answer or an image")
        return self


@dataclass(frozen=True, slots=True)
class Answer:
    key: str  # "file:<name>" or "chat:<id>": what the cooldown is kept by
    label: str  # the name shown in /词条 列表
    text: str
    template: bool  # the file's answers are templates; the chat's are sent as written
    image: str = ""
    cooldown: int | None = None


@dataclass
class Book:
    """Entries ready to match: exact words by folded text, contained words longest first, patterns."""

    exact: dict[str, Answer] = field(default_factory=dict)
    contains: list[tuple[str, Answer]] = field(default_factory=list)
    patterns: list[tuple[object, Answer]] = field(default_factory=list)

    def add(self, answer: Answer, exact=(), contains=(), patterns=()) -> None:
        for word in exact:
            self.exact.setdefault(fold(word.strip()), answer)
        self.contains += [(fold(word.strip()), answer) for word in contains]
        self.contains.sort(key=lambda pair: -len(pair[0]))  # stable: the file's order among equals
        self.patterns += [(compile_pattern(p), answer) for p in patterns]

    def find(self, folded: str, stage: str) -> Answer | None:
        if stage == "exact":
            return self.exact.get(folded)
        if stage == "contains":
            return next((a for word, a in self.contains if word in folded), None)
        return next((a for regex, a in self.patterns if regex.matches(folded)), None)


class AutoReplyRules(PluginRules):
    cooldown_seconds: int = Field(60, ge=0, le=604_800)  # per entry and group
    mention: bool = True  # the answer replies to the message and mentions its sender
    entries: dict[str, Entry] = {}
    chat_entries: bool = True  # admins may add entries with /词条 添加
    max_chat_entries: int = Field(200, ge=0, le=2000)
    ignore_users: list[str] = []  # other bots in the group: "12345" or "qq:12345"

    @cached_property
    def book(self) -> Book:
        book = Book()
        for name, entry in self.entries.items():
            if entry.enabled:
                answer = Answer(f"file:{name}", name, entry.answer, True, entry.image, entry.cooldown_seconds)
                book.add(answer, entry.exact, entry.contains, entry.patterns)
        return book

    @cached_property
    def ignored(self) -> frozenset[str]:
        return frozenset(self.ignore_users)


class ChatBooks:
    """The groups' chat entries as this process read them — every group's in one query (``read_at``), again
    after ``CHAT_ENTRIES_TTL`` (another process may have changed them); a group whose entries this process
    changed is read alone (``changed``) — and the entry the filter found for the message at hand (so that
    the handler does not match it again)."""

    def __init__(self) -> None:
        self.by_group: dict[str, Book] = {}
        self.read_at: datetime | None = None
        self.changed: set[str] = set()
        self.found: tuple[MessageReceived, Answer] | None = None

    def fresh(self, group: str, at: datetime) -> Book | None:
        if self.read_at is None or at - self.read_at > CHAT_ENTRIES_TTL or group in self.changed:
            return None
        return self.by_group.get(group, NO_ENTRIES)

    async def of(self, ctx: Context) -> Book:
        book = self.fresh(ctx.group, ctx.event.at)
        if book is not None:
            return book
        at = ctx.event.at
        if ctx.group in self.changed and self.read_at is not None and at - self.read_at <= CHAT_ENTRIES_TTL:
            self.by_group[ctx.group] = _chat_book(await ctx.store.run(chat_entries, ctx.group))
            self.changed.discard(ctx.group)
        else:
            rows = await ctx.store.run(all_chat_entries)
            self.by_group = {group: _chat_book(entries) for group, entries in rows.items()}
            self.read_at, self.changed = at, set()
        return self.by_group.get(ctx.group, NO_ENTRIES)


def _chat_book(rows: list[dict]) -> Book:
    book = Book()
    for row in rows:
        answer = Answer(f"chat:{row['id']}", row["trigger"], row["answer"], False)
        book.add(answer, exact=[row["trigger"]] if row["match"] == "exact" else (),
                 contains=[row["trigger"]] if row["match"] == "contains" else ())
    return book


NO_ENTRIES = Book()  # the book of every group without chat entries; never added to


plugin = Plugin("auto_reply", AutoReplyRules, priority=400, state=ChatBooks)


def _may_answer(event: MessageReceived, rules: AutoReplyRules, state: ChatBooks, group: str) -> bool:
    """A message some entry answers (matched here, without a coroutine: most messages match nothing), or
    one of a group whose chat entries are not read yet."""
    text = event.text
    if not text or text[0] in "/／":
        return False
    if rules.ignored and (event.user in rules.ignored or f"{event.platform}:{event.user}" in rules.ignored):
        return False
    book = state.fresh(group, event.at)
    if book is None:
        return True
    found = choose(rules.book, book, text)
    state.found = (event, found) if found is not None else None
    return found is not None


def choose(file_book: Book, chat_book: Book, text: str) -> Answer | None:
    """The one entry that answers ``text``: exact words, then contained words, then patterns."""
    folded = fold(text.strip())
    for stage in ("exact", "contains", "patterns"):
        for book in (file_book, chat_book):
            found = book.find(folded, stage)
            if found is not None:
                return found
    return None


@plugin.on(MessageReceived, when=_may_answer)
async def answer(ctx: Context):
    ev = ctx.event
    rules: AutoReplyRules = ctx.rules
    if ctx.is_keyword(ev.text):
        return None  # 签到 and the like belong to their plugins
    held = ctx.state.found
    found = held[1] if held is not None and held[0] is ev else choose(rules.book, await ctx.state.of(ctx), ev.text)
    if found is None:
        return None
    cooldown = rules.cooldown_seconds if found.cooldown is None else found.cooldown
    kind = "auto_reply." + hashlib.sha1(found.key.encode()).hexdigest()[:16]

    def claim(conn) -> bool:
        # One answer however many processes share the group, and none while the entry cools down here.
        if ev.id and not ctx.first_to_see(conn, f"msg.{ev.id}"):
            return False
        return cooldown == 0 or claim_prompt(conn, ctx.group, "", kind, ev.at, timedelta(seconds=cooldown))

    if not await ctx.store.run(claim):
        return None
    return _message(ctx, found)


def _message(ctx: Context, found: Answer) -> list:
    ev = ctx.event
    effects: list = []
    text = found.text
    if found.template:
        try:
            text = ctx.services.templates.env.from_string(found.text).render(name=ev.user_name or ev.user, user=ev.user,
                                                                              text=ev.text).strip()
        except jinja2.TemplateError as exc:
            return [ctx.report(f"auto_reply {ctx.group}: entry {found.label!r} did not render: {exc}", "answer_broken")]
    image = None
    if found.image:
        try:
            path = resolve_inside(ctx.rules_dir, found.image)
        except ValueError as exc:
            path = None
            effects.append(ctx.report(f"auto_reply {ctx.group}: entry {found.label!r}: {exc}", "image_missing"))
        if path is not None and path.is_file():
            image = str(path)
        elif path is not None:
            effects.append(ctx.report(f"auto_reply {ctx.group}: entry {found.label!r}: no picture at {path}", "image_missing"))
    if not text and image is None:
        return effects
    mentions, reply_to = ((ev.user,), ev.id or None) if ctx.rules.mention else ((), None)
    return [SendMessage(platform=ev.platform, group=ev.group, text=text, image=image, mentions=mentions, reply_to=reply_to,
                        plugin=plugin.name, reason="keyword_answer"), *effects]


@plugin.command("faq", "词条", "关键词")
async def manage(ctx: Context):
    """``/词条 [列表]``, ``/词条 添加 [包含] 触发词 回答``, ``/词条 删除 触发词``."""
    args = ctx.call.args
    action = _SUBCOMMANDS.get(args[0].lower() if args else "列表")
    if action is None:
        return ctx.reply("auto_reply/usage", "usage")
    if action == "list":
        return await _list(ctx)
    if ctx.role == "member":
        return ctx.reply("core/refused", "not_permitted", command=f"{ctx.call.name} {args[0]}", needed="admin")
    if not ctx.rules.chat_entries:
        return ctx.reply("auto_reply/chat_off", "chat_entries_off")
    return await (_add(ctx) if action == "add" else _delete(ctx))


async def _list(ctx: Context):
    rules: AutoReplyRules = ctx.rules
    files = [{"name": name, "exact": e.exact, "contains": e.contains, "patterns": len(e.patterns),
              "image": bool(e.image)} for name, e in rules.entries.items() if e.enabled]
    chats = await ctx.store.run(chat_entries, ctx.group)
    return ctx.reply("auto_reply/listed", "entries_listed", files=files, chats=chats)


async def _add(ctx: Context):
    found = _ADD.match(ctx.event.text.strip())
    if not found:
        return ctx.reply("auto_reply/usage", "usage")
    match, trigger, text = _MATCH_WORDS[found.group(1)], fold(found.group(2)), found.group(3).strip()
    if len(trigger) > 50 or len(text) > 1000:
        return ctx.reply("auto_reply/too_long", "usage")
    ev = ctx.event
    outcome = await ctx.store.run(add_entry, ctx.group, match, trigger, text, ev.user, ev.at, ctx.rules.max_chat_entries)
    ctx.state.changed.add(ctx.group)
    if outcome == "full":
        return ctx.reply("auto_reply/full", "entries_full", limit=ctx.rules.max_chat_entries)
    return ctx.reply("auto_reply/added", f"entry_{outcome}", trigger=trigger, match=match, replaced=outcome == "replaced")


async def _delete(ctx: Context):
    if len(ctx.call.args) < 2:
        return ctx.reply("auto_reply/usage", "usage")
    trigger = fold(ctx.call.args[1])
    gone = await ctx.store.run(drop_entry, ctx.group, trigger)
    ctx.state.changed.add(ctx.group)
    if gone:
        return ctx.reply("auto_reply/deleted", "entry_deleted", trigger=trigger)
    in_file = [name for name, e in ctx.rules.entries.items()
               if trigger in {fold(w) for w in (*e.exact, *e.contains)} or trigger == fold(name)]
    if in_file:
        return ctx.reply("auto_reply/file_entry", "entry_in_file", trigger=trigger, name=in_file[0])
    return ctx.reply("auto_reply/not_found", "entry_not_found", trigger=trigger)
