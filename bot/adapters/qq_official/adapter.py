"""QQ groups through the official QQ Bot API v2 (QQ 开放平台): no personal account, nothing to freeze.

Events come over the WebSocket gateway or the webhook (config ``transport``), are recognised when they
come again (a message may come both as GROUP_MESSAGE_CREATE and GROUP_AT_MESSAGE_CREATE, the gateway
re-sends after a resume, QQ retries webhooks), and are handled in one lane per group. What the bot may
do in a group follows its bot state there (admin? all messages? may it speak first?), fetched before the
group's events are handled and again when it is stale or QQ refuses something, so the outbox plans its
fallbacks from the truth. Messages answer a member's message within its window; a message the bot may
not start is held until a member speaks, and the operators are told.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from bot.adapters.base import AdapterStartError, EventSink, PlatformError
from bot.adapters.download import download
from bot.adapters.lanes import Lanes, Seen
from bot.adapters.qq_official import manage, outgoing
from bot.adapters.qq_official.api import OpenApi
from bot.adapters.qq_official.config import QQOfficialConfig
from bot.adapters.qq_official.errors import GONE_CODES, ApiError
from bot.adapters.qq_official.events import BOT_TYPES, PLATFORM, Dispatch, MalformedEvent, dedupe_key, to_event
from bot.adapters.qq_official.gateway import Gateway
from bot.adapters.qq_official.manage import BotState
from bot.adapters.qq_official.signing import Signer
from bot.adapters.qq_official.webhook import Webhook
from bot.adapters.qq_official.window import Held, ReplyWindow
from bot.model import Action, DecideJoin, DeleteMessage, KickMember, MessageReceived, MuteMember, SendMessage

log = logging.getLogger(__name__)

MEMBER_ACTIONS = frozenset({"send"})
ADMIN_ACTIONS = frozenset({"send", "delete", "mute", "kick", "decide_join"})
ADDRESSED_ONLY = frozenset({"addressed_only"})  # not an action: the group delivers only @-messages to the bot
# QQ's answers that mean "this message can no longer be answered": try another way to send.
WINDOW_CODES = frozenset({304026, 304027})
# QQ's answers that mean the bot's role or settings in the group changed: fetch its state again.
STATE_CODES = frozenset({11282, 306004, 304046, 304048, *GONE_CODES})


class QQOfficialAdapter:
    platform = PLATFORM

    def __init__(self, config: QQOfficialConfig, environ: dict[str, str] | None = None):
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.sink: EventSink | None = None
        self.api: OpenApi | None = None
        self.signer: Signer | None = None
        self.gateway: Gateway | None = None
        self.webhook: Webhook | None = None
        self.seen = Seen()
        self.lanes = Lanes("qq_official")
        self.window = ReplyWindow(config.reply_window_seconds, config.replies_per_message)
        self.held = Held(config.hold_unsent_hours)
        self.states: dict[str, tuple[BotState, float, bool]] = {}  # group -> (state, fetched at, known)
        self.full_groups: set[str] = set()  # groups seen delivering GROUP_MESSAGE_CREATE: all messages are on
        self.told: set[str] = set()  # groups told once how to switch all messages on
        self.ready = asyncio.Event()
        self._refreshing: dict[str, asyncio.Task] = {}  # background bot-state fetches, by group

    # ------------------------------------------------------------------ what the bot may do

    def capabilities(self, group: str) -> frozenset[str]:
        """From the group's bot state; a stale one is still used (the role rarely changes) while a fresh one
        is fetched in the background. A group never seen (not even before a restart) gets the safe view."""
        entry = self.states.get(group)
        if (entry is None or time.monotonic() - entry[1] >= self.config.bot_state_seconds) and self.api is not None:
            self._refresh_soon(group)
        actions = ADMIN_ACTIONS if entry is not None and entry[0].admin else MEMBER_ACTIONS
        if entry is not None and entry[2] and not entry[0].all_messages and group not in self.full_groups:
            # The engine turns off plugins that watch every message (anti-ad) where only @-messages arrive.
            actions = actions | ADDRESSED_ONLY
        return actions

    def _refresh_soon(self, group: str) -> None:
        if group in self._refreshing:
            return
        self._refreshing[group] = asyncio.get_running_loop().create_task(self._refresh(group))

    async def _refresh(self, group: str) -> None:
        try:
            await self.state(group)
        except Exception:  # a background look must never leave an unretrieved error behind
            log.exception("QQ official: refreshing the bot state of group %s failed", group)
        finally:
            self._refreshing.pop(group, None)

    async def state(self, group: str) -> BotState:
        """The bot's state in ``group``, fetched again when older than ``bot_state_seconds``. Where it
        cannot be fetched (the endpoint not granted …) the last known one stays, or the bot is taken for a
        member that may not start."""
        entry = self.states.get(group)
        if entry is not None and time.monotonic() - entry[1] < self.config.bot_state_seconds:
            return entry[0]
        try:
            state, known = await manage.bot_state(self.api, group), True
        except PlatformError as exc:
            log.warning("QQ official: bot state of group %s unavailable: %s", group, exc)
            state, known = (entry[0], entry[2]) if entry is not None else (BotState(), False)
        self.states[group] = (state, time.monotonic(), known)
        if known and (entry is None or entry[0] != state):
            self._save()  # kept across restarts, so a timer's removal after a restart is planned right
        return state

    def forget_state(self, group: str) -> None:
        """Make the next look ask QQ again (the capabilities keep the last known state meanwhile)."""
        if (entry := self.states.get(group)) is not None:
            self.states[group] = (entry[0], float("-inf"), entry[2])

    # ------------------------------------------------------------------ running

    async def run(self, sink: EventSink) -> None:
        """Get a token, open the configured transport, and feed events to ``sink`` until cancelled."""
        self.sink = sink
        secret = self.environ.get(self.config.secret_env, "")
        if not secret:
            raise AdapterStartError(f"QQ official: the environment variable {self.config.secret_env} "
                                    "(named by [qq_official] secret_env) is not set")
        self.signer = Signer(secret)
        self.api = OpenApi(self.config, secret)
        self._load()
        try:
            await self.api.start()
            if self.config.transport == "webhook":
                await self._serve_webhook()
            else:
                await self._serve_gateway()
        finally:
            if len(self.held):
                log.warning("QQ official: stopping with %d held messages unsent", len(self.held))
            await self.lanes.stop()
            for task in list(self._refreshing.values()):
                task.cancel()
            if self.webhook is not None:
                await self.webhook.stop()
            await self.api.close()

    async def _serve_gateway(self) -> None:
        self.gateway = Gateway(self.api, self.config.intents, self._on_dispatch, self.config.reconnect_max_seconds)
        started = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self.gateway.run(started))
        try:
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
            if started.done():
                started.result()  # raises the AdapterStartError of a first attempt that failed
                self.ready.set()
            await task
        finally:
            task.cancel()

    async def _serve_webhook(self) -> None:
        self.webhook = Webhook(self.config.webhook, self.signer, self._on_dispatch)
        await self.webhook.start()
        self.ready.set()
        await asyncio.Event().wait()  # the server runs until we are cancelled

    # ------------------------------------------------------------------ events

    async def _on_dispatch(self, payload: dict) -> None:
        """Take one dispatch from either transport: note it, drop a repeat, queue it on its group's lane."""
        dispatch = Dispatch.of(payload)
        group = dispatch.group
        if not group:
            return  # direct messages, guild events: not a group's business
        if dispatch.type in BOT_TYPES:
            self._bot_event(dispatch)
            return
        key = dedupe_key(dispatch)
        if dispatch.type == "GROUP_MESSAGE_CREATE":
            self.full_groups.add(group)
        if key is not None and not self.seen.first_time(key):
            return
        try:
            event = to_event(dispatch, self._bot_ids(group))
        except (MalformedEvent, ValidationError) as exc:
            log.warning("QQ official: skipped a malformed %s: %s", dispatch.type, exc)
            return
        if event is not None:
            self.lanes.submit(group, lambda: self._handle(event, dispatch.type))

    def _bot_event(self, dispatch: Dispatch) -> None:
        group = dispatch.group
        self.forget_state(group)  # the bot's standing there changed: ask again before the next event
        if dispatch.type in ("GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE") and dispatch.id:
            self.window.event(group, dispatch.id)
        verb = {"GROUP_ADD_ROBOT": "added to", "GROUP_DEL_ROBOT": "removed from",
                "GROUP_MSG_RECEIVE": "allowed to send messages in", "GROUP_MSG_REJECT": "refused messages in"}
        log.info("QQ official: the bot was %s group %s", verb[dispatch.type], group)
        if dispatch.type == "GROUP_DEL_ROBOT" and self.sink is not None:
            self.sink.report(f"QQ official: the bot was removed from group {group}", True)

    def _bot_ids(self, group: str) -> frozenset[str]:
        entry = self.states.get(group)
        ids = {entry[0].member_openid} if entry is not None and entry[0].member_openid else set()
        if self.gateway is not None and self.gateway.bot_user.get("id"):
            ids.add(str(self.gateway.bot_user["id"]))
        return frozenset(ids)

    async def _handle(self, event, kind: str) -> None:
        """In the group's lane: know the bot's state first (so capabilities are right when the plugins and
        the outbox ask), open the reply window, send what was held, then hand the event to the engine."""
        state = await self.state(event.group)
        if isinstance(event, MessageReceived):
            self.window.message(event.group, event.id)
            await self._release_held(event.group)
        await self.sink.handle_and_send(event)
        if isinstance(event, MessageReceived) and kind == "GROUP_AT_MESSAGE_CREATE":
            await self._hint_full_messages(event, state)

    async def _hint_full_messages(self, event: MessageReceived, state: BotState) -> None:
        """Tell a group that only delivers @-messages, once, how its owner switches all messages on."""
        group = event.group
        known = self.states.get(group, (None, 0, False))[2]
        if group in self.told or group in self.full_groups or not known or state.all_messages:
            return
        templates = getattr(self.sink, "templates", None)
        if templates is None:
            return
        self.told.add(group)
        self._save()
        text = templates.render("qq_official/full_messages_hint", admin=state.admin)
        try:
            await self._send(SendMessage(platform=PLATFORM, group=group, text=text, reply_to=event.id,
                                         plugin="qq_official", reason="full_messages_hint"))
        except PlatformError as exc:
            log.warning("QQ official: the all-messages hint to group %s failed: %s", group, exc)

    # ------------------------------------------------------------------ actions

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:
        """A picture attachment by its download URL."""
        return await download(reference, max_bytes)

    async def perform(self, action: Action) -> None:
        if self.api is None:
            raise PlatformError("QQ official adapter is not running", retryable=True)
        try:
            await self._perform(action)
        except ApiError as exc:
            if exc.code in STATE_CODES:
                self.forget_state(action.group)  # the group changed under us: the next plan asks afresh
            raise

    async def _perform(self, action: Action) -> None:
        group = action.group
        if isinstance(action, SendMessage):
            await self._send(action)
        elif isinstance(action, DeleteMessage):
            await manage.recall(self.api, group, action.message)
        elif isinstance(action, MuteMember):
            await manage.mute(self.api, group, action.user, int(action.seconds), datetime.now(timezone.utc))
        elif isinstance(action, KickMember):
            await manage.remove(self.api, group, action.user, self.config.blacklist_on_kick)
        elif isinstance(action, DecideJoin):
            await manage.decide_join(self.api, group, action.user, action.request, action.approve, action.note)
        else:
            raise PlatformError(f"QQ official cannot perform {action.name}")

    async def _send(self, action: SendMessage) -> None:
        """Answer a message (or an event) of the group; else start a message where the group allows it;
        else hold it until a member speaks (or refuse it, when holding is off)."""
        group = action.group
        if action.file:
            self.sink.report(f"QQ official: files cannot be sent to groups; sent the text only ({action.file})", True)
        file_info = await outgoing.upload_image(self.api, group, action.image) if action.image else None
        while True:
            passive = self.window.take(group, action.reply_to)
            if passive is None:
                if not (await self.state(group)).may_start:
                    return self._hold(action)
                fields = {}
            else:
                fields = passive.fields
            try:
                await outgoing.post(self.api, group, outgoing.message_body(action.text, file_info, fields))
                return
            except ApiError as exc:
                if exc.code not in WINDOW_CODES or "msg_id" not in fields:
                    raise
                self.window.spent(group, fields["msg_id"])  # that message's window closed early: try the next way

    def _hold(self, action: SendMessage) -> None:
        if self.config.hold_unsent_hours <= 0:
            raise PlatformError(f"QQ official: group {action.group} lets the bot speak only in answer to a member, "
                                "and no member's message is waiting for an answer")
        self.held.hold(action.group, action)
        if action.reason == "admin_log":  # a report about this would be held here again: the log line is enough
            log.warning("QQ official: an admin-log message for group %s is held until someone speaks there", action.group)
            return
        self.sink.report(f"QQ official: group {action.group} lets the bot speak only in answer to a member; "
                         f"{action.plugin or '?'}/{action.reason or '?'} is held until someone speaks there "
                         f"(at most {self.config.hold_unsent_hours:g} h)", True)

    async def _release_held(self, group: str) -> None:
        fresh, stale = self.held.release(group)
        for action in stale:
            self.sink.report(f"QQ official: dropped {action.plugin or '?'}/{action.reason or '?'} for group {group}: "
                             f"nobody spoke there within {self.config.hold_unsent_hours:g} h", True)
        for action in fresh:
            try:
                await self._send(action.model_copy(update={"reply_to": None}))
            except PlatformError as exc:
                self.sink.report(f"QQ official: a held message for group {group} failed: {exc}", True)

    # ------------------------------------------------------------------ what is kept across restarts

    def _load(self) -> None:
        """The groups already told, and the last known bot states (taken as stale: asked again when used)."""
        try:
            data = json.loads(Path(self.config.state_file).read_text(encoding="utf-8"))
            self.told = {str(g) for g in data.get("told_full_messages", [])}
            for group, fields in (data.get("bot_states") or {}).items():
                self.states[str(group)] = (BotState(**fields), float("-inf"), True)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            log.warning("QQ official: cannot read %s (%s); starting without it", self.config.state_file, exc)

    def _save(self) -> None:
        states = {g: dataclasses.asdict(s) for g, (s, _at, known) in self.states.items() if known}
        data = {"told_full_messages": sorted(self.told), "bot_states": states}
        try:
            Path(self.config.state_file).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            log.warning("QQ official: cannot write %s: %s", self.config.state_file, exc)
