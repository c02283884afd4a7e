"""Live relay (多群转播): what the speakers say in one group goes out, in order, to every group of a set —
how 群内微课 are run: the lecture room speaks, ten listening groups hear it.

``/转播 开始 <集合>`` (the source group's owner; the group must be in the set, bot admins anywhere) starts it
with the starter as speaker; ``/转播 讲师 @某人 …`` names the speakers; ``/转播 结束`` stops it and reports,
per target group, how many messages were delivered and how many failed (from the outbox's receipts,
bot/receipts.py); ``/转播 状态`` shows the same while it runs; ``/转播 记录`` exports the transcript (CSV).
Targets are the set's groups whose owners accept broadcasts and relays from that set (``accept_from`` of
broadcasts.toml); the others are named with their reason. Listeners ask questions with ``/提问 …`` (or a
message starting with 问：/提问：), forwarded to the source group while ``questions`` is on.

Each speaker message becomes one message per target, in order per target and paced per platform by the
outbox (queued, never dropped; one slow platform does not hold up the others). The relay and its
transcript are in the database: a restart goes on where it was.

What must stay true: a source message is relayed once however many processes see it (claimed first), and
the reports count only what the outbox confirmed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import Field

from bot.bus import Context, Plugin
from bot.model import Attachment, MessageReceived, SendMessage
from bot.rules import PluginRules
from bot.store.relays import (add_line, delivery_counts, latest_relay, line_of_message, running_relays, set_speakers,
                              start_relay, stop_relay, transcript)
from plugins.broadcasts import split_targets

QUESTION = re.compile(r"^\s*(?:提问|问)\s*[:：]\s*(\S.*)$", re.S)
PLACEHOLDERS = {"image": "[图片]", "file": "[文件]", "red_packet": "[红包]", "link": "[链接]"}


class RelayRules(PluginRules):
    questions: bool = True  # listeners' /提问 reach the source group
    refresh_seconds: int = Field(30, ge=1, le=3600)  # how often a process re-reads the running relays


@dataclass
class Running:
    """The running relays as this process last read them: by source group, and source by target group."""

    by_source: dict[str, dict] = field(default_factory=dict)
    by_target: dict[str, str] = field(default_factory=dict)
    read_at: datetime | None = None

    def fresh(self, at: datetime, seconds: int) -> bool:
        return self.read_at is not None and self.read_at <= at < self.read_at + timedelta(seconds=seconds)

    def load(self, relays: list[dict], at: datetime) -> None:
        self.by_source = {r["source_group"]: r for r in relays}
        self.by_target = {t: r["source_group"] for r in relays for t in r["targets"]}
        self.read_at = at


plugin = Plugin("relay", RelayRules, priority=160, state=Running)


async def _running(ctx: Context) -> Running:
    state: Running = ctx.state
    if not state.fresh(ctx.event.at, ctx.rules.refresh_seconds):
        state.load(await ctx.store.run(running_relays), ctx.event.at)
    return state


def _maybe_relayed(event: MessageReceived, rules: RelayRules, state: Running, group: str) -> bool:
    """Cheap: nothing to do in a group that is neither a running relay's source nor a target (as last read);
    unread or stale state says maybe."""
    if not state.fresh(event.at, rules.refresh_seconds):
        return True
    return group in state.by_source or (group in state.by_target and QUESTION.match(event.text) is not None)


@plugin.on(MessageReceived, when=_maybe_relayed)
async def relay_message(ctx: Context):
    ev = ctx.event
    state = await _running(ctx)
    relay = state.by_source.get(ctx.group)
    if relay is not None:
        if ev.user not in relay["speakers"] or ev.text.lstrip().startswith(("/", "／")):
            return None
        return await _relay_speaker(ctx, relay)
    if ctx.group in state.by_target and (asked := QUESTION.match(ev.text)):
        return await _forward_question(ctx, state.by_source[state.by_target[ctx.group]], asked[1].strip())
    return None


async def _relay_speaker(ctx: Context, relay: dict):
    ev = ctx.event
    said = ev.text.strip()
    # Each picture or file travels as a message of its own line (the first with the words), fetched by the
    # outbox from where it came just before it goes out (bot/media.py), in order with the text around it.
    attachments = [Attachment(kind="image", platform=ev.platform, reference=r) for r in ev.images]
    attachments += [Attachment(kind="file", platform=ev.platform, reference=ref, name=name) for name, ref in ev.files]
    body = said or PLACEHOLDERS.get(ev.kind, f"[{ev.kind}]")
    if attachments and attachments[0].kind == "file":
        body = f"{_placeholder(attachments[0])} {said}".strip()
    elif said and ev.kind in PLACEHOLDERS and ev.kind != "link":
        body = f"{PLACEHOLDERS[ev.kind]} {said}"
    entries = [(ev.kind, body)] + [(a.kind, _placeholder(a)) for a in attachments[1:]]  # transcript lines

    def record(conn):
        if ev.id and not ctx.first_to_see(conn, f"relay.{ev.id}"):
            return None, None
        quoted = line_of_message(conn, relay["id"], ctx.group, ev.reply_to) if ev.reply_to else None
        return [add_line(conn, relay["id"], ctx.group, ev.id, ev.user, ev.user_name, kind, text, ev.at)
                for kind, text in entries], quoted

    lines, quoted = await ctx.store.run(record)
    if lines is None:
        return None  # another process sharing the database relayed this very message
    name = ev.user_name or ev.user
    # Beside its picture or file a line says only the words; the placeholder is for the transcript (where
    # the attachment cannot be fetched, the outbox says so in its place: Outbox._attach).
    texts = [ctx.render("relay/message", name=name, text=said if attachments else body, quoted=quoted,
                        mentioned=[m for m in ev.mentions if m not in ev.text])]
    texts += [ctx.render("relay/message", name=name, text="", quoted=None, mentioned=[]) for _ in attachments[1:]]
    return [SendMessage(platform=g.partition(":")[0], group=g.partition(":")[2], text=text, plugin=plugin.name,
                        reason="relayed", receipt=f"relay:{relay['id']}:{line}", fetch=attachment)
            for g in relay["targets"] for line, text, attachment in zip(lines, texts, attachments or [None])]


def _placeholder(attachment: Attachment) -> str:
    return PLACEHOLDERS["image"] if attachment.kind == "image" else f"{PLACEHOLDERS['file']} {attachment.name}"


async def _forward_question(ctx: Context, relay: dict, question: str):
    ev = ctx.event
    if not relay["questions"] or not ctx.rules.questions:
        return ctx.reply("relay/questions_off", "questions_off")

    def record(conn):
        if ev.id and not ctx.first_to_see(conn, f"relay.{ev.id}"):
            return None
        return add_line(conn, relay["id"], ctx.group, ev.id, ev.user, ev.user_name, "question", question, ev.at)

    if await ctx.store.run(record) is None:
        return None
    platform, _, group = relay["source_group"].partition(":")
    return [SendMessage(platform=platform, group=group, plugin=plugin.name, reason="question",
                        text=ctx.render("relay/question", name=ev.user_name or ev.user, where=ctx.group, text=question)),
            ctx.reply("relay/question_sent", "question_sent")]


@plugin.command("ask", "提问")
async def ask(ctx: Context):
    state = await _running(ctx)
    if ctx.group not in state.by_target or not ctx.call.rest.strip():
        return ctx.reply("relay/ask_usage", "usage", running=ctx.group in state.by_target)
    return await _forward_question(ctx, state.by_source[state.by_target[ctx.group]], ctx.call.rest.strip())


@plugin.command("relay", "转播", role="owner")
async def relay_command(ctx: Context):
    args = ctx.call.args
    action = args[0] if args else ""
    if action in ("开始", "start") and len(args) >= 2:
        return await _start(ctx, args[1])
    if action in ("讲师", "speakers"):
        return await _speakers(ctx)
    if action in ("结束", "stop"):
        return await _stop(ctx)
    if action in ("状态", "status"):
        return await _status(ctx)
    if action in ("记录", "transcript"):
        return await _export(ctx)
    return ctx.reply("relay/usage", "usage")


async def _start(ctx: Context, set_name: str):
    ev = ctx.event
    found = split_targets(ctx, set_name, "relay/not_in_set")
    if isinstance(found, SendMessage):
        return found
    targets, refused = found
    if not targets:
        return ctx.reply("relay/no_targets", "no_targets", name=set_name, refused=refused)
    speakers = [ev.user]
    started = await ctx.store.run(start_relay, ctx.group, set_name, targets, refused, speakers, ctx.rules.questions, ev.user, ev.at)
    ctx.state.read_at = None  # read again on the next message
    if started is None:
        return ctx.reply("relay/already", "already_running")
    return [ctx.reply("relay/started", "relay_started", name=set_name, targets=targets, refused=refused,
                      speaker=ev.user_name or ev.user, questions=ctx.rules.questions),
            ctx.report(f"relay {ctx.group}: #{started} to {set_name} started by {ev.user}: {len(targets)} group(s), "
                       f"{len(refused)} refused", "relay_started")]


async def _speakers(ctx: Context):
    ev = ctx.event
    relay = (await _running(ctx)).by_source.get(ctx.group)
    if relay is None:
        return ctx.reply("relay/not_running", "not_running")
    named = list(ev.mentions) or [a.lstrip("@") for a in ctx.call.args[1:]]
    if not named:
        return ctx.reply("relay/speakers_usage", "usage")
    speakers = list(dict.fromkeys(named))
    await ctx.store.run(set_speakers, relay["id"], speakers)
    relay["speakers"] = speakers
    return ctx.reply("relay/speakers", "speakers_set", speakers=speakers)


async def _counts(ctx: Context, relay: dict) -> tuple[dict, int]:
    await ctx.services.receipts.flush()

    def read(conn):
        lines = [line for line in transcript(conn, relay["id"]) if line["kind"] != "question"]
        return delivery_counts(conn, relay["id"]), len(lines)

    return await ctx.store.run(read)


async def _stop(ctx: Context):
    ev = ctx.event
    relay = (await _running(ctx)).by_source.get(ctx.group)
    if relay is None or not await ctx.store.run(stop_relay, relay["id"], ev.at):
        return ctx.reply("relay/not_running", "not_running")
    ctx.state.read_at = None
    counts, sent = await _counts(ctx, relay)
    return [ctx.reply("relay/stopped", "relay_stopped", relay=relay, counts=counts, sent=sent),
            ctx.report(f"relay {ctx.group}: #{relay['id']} stopped by {ev.user}: {sent} message(s); "
                       + "; ".join(f"{g} {counts.get(g, (0, 0, ''))[0]} delivered, {counts.get(g, (0, 0, ''))[1]} failed"
                                   for g in relay["targets"]), "relay_stopped")]


async def _status(ctx: Context):
    relay = (await _running(ctx)).by_source.get(ctx.group)
    if relay is None:
        return ctx.reply("relay/not_running", "not_running")
    counts, sent = await _counts(ctx, relay)
    return ctx.reply("relay/status", "relay_status", relay=relay, counts=counts, sent=sent)


async def _export(ctx: Context):
    def read(conn):
        relay = latest_relay(conn, ctx.group)
        return relay, transcript(conn, relay["id"]) if relay else []

    relay, lines = await ctx.store.run(read)
    if relay is None:
        return ctx.reply("relay/not_running", "not_running")
    path = ctx.export_path(f"relay-{relay['id']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ctx.render("relay/csv_header").split(","))
        for line in lines:
            writer.writerow([line["at"].astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M:%S"), line["group_key"],
                             line["name"] or line["user_id"], line["user_id"], line["kind"], line["text"]])
    return ctx.reply("relay/exported", "transcript_exported", count=len(lines), id=relay["id"]).model_copy(update={"file": str(path)})
