"""The WeCom adapter: the AI bot (智能机器人) by long connection or callbacks, plus group webhooks
(消息推送) as a send-only road (see README, "WeCom").

What arrives: in groups, only the messages that @-mention the bot. What goes out: answers to those
messages; messages the bot starts through the AI bot's proactive send where WeCom allows it, else through
the group's webhook. Nothing else (delete, mute, kick, nicknames, join decisions) exists for a bot in
WeCom, so the outbox's fallbacks apply. Each group's events are handled in order in a lane of their own;
a message WeCom delivers again (same msgid) is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os

import httpx
from websockets.exceptions import WebSocketException

from bot.adapters.base import CAPABILITIES, AdapterStartError, EventSink, FloodError, MaybeDelivered, PlatformError
from bot.adapters.lanes import Lanes, Seen
from bot.adapters.wecom.answers import Answers, Callback
from bot.adapters.wecom.callback import CallbackListener
from bot.adapters.wecom.config import WecomConfig
from bot.adapters.download import download
from bot.adapters.wecom.crypto import BLOCK, CallbackCrypto, CryptoError, decrypt_media, media_key
from bot.adapters.wecom.errors import AnswerExpired, error_for
from bot.adapters.wecom.events import PLATFORM, Translator
from bot.adapters.wecom.longconn import CALLBACK, Displaced, LongConnection, Refused, new_req_id
from bot.adapters.wecom.webhook import Webhooks
from bot.model import Action, MessageReceived, SendMessage

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5


def _secret(environ, name: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise AdapterStartError(f"wecom: the environment variable {name} ({what}) is empty")
    return value


def markup(text: str, mentions: tuple[str, ...]) -> str:
    """Markdown for the AI bot: ``<@userid>`` mentions a member."""
    return "".join(f"<@{user}> " for user in mentions) + text


class WecomAdapter:
    platform = PLATFORM

    def __init__(self, config: WecomConfig, environ: dict[str, str] | None = None):
        environ = os.environ if environ is None else environ
        self.config = config
        keys = {group: _secret(environ, env, f"wecom.webhooks, the webhook key of group {group}") for group, env in config.webhooks.items()}
        self.webhooks = Webhooks(keys, config.webhook_url, config.webhook_per_minute, config.webhook_window_seconds, config.call_timeout)
        self.translator = Translator(config)
        self.answers = Answers(config.answer_window_seconds)
        self.seen = Seen()  # msgids of recent messages, kept across reconnections
        self.lanes = Lanes("wecom group")
        self.sink: EventSink | None = None
        self.displaced = False
        self._no_proactive: dict[str, float] = {}  # group -> loop time until which WeCom's refusal stands
        self._groups: set[str] = set()
        self.connection: LongConnection | None = None
        self.listener: CallbackListener | None = None
        self.crypto: CallbackCrypto | None = None  # callback mode: its EncodingAESKey also opens pictures
        if config.mode == "long_connection":
            secret = _secret(environ, config.secret_env, "wecom.secret_env, the AI bot's Secret")
            self.connection = LongConnection(config.ws_url, config.bot_id, secret, config.ping_seconds,
                                             config.call_timeout, self._on_frame)
        else:
            cb = config.callback
            try:
                crypto = CallbackCrypto(_secret(environ, cb.token_env, "wecom.callback.token_env, the callback Token"),
                                        _secret(environ, cb.aes_key_env, "wecom.callback.aes_key_env, the EncodingAESKey"))
            except ValueError as exc:
                raise AdapterStartError(f"wecom: {cb.aes_key_env}: {exc}") from None
            self.crypto = crypto
            self.listener = CallbackListener(cb, crypto, self._on_http_callback)
        self._http: httpx.AsyncClient | None = None

    def capabilities(self, group: str) -> frozenset[str]:
        # Send only; "addressed_only": the bot sees only the messages that @-mention it (see base.CAPABILITIES).
        return CAPABILITIES[PLATFORM]

    def _report(self, text: str) -> None:
        if self.sink is not None:
            self.sink.report(text)
        else:
            log.warning("%s", text)

    # ------------------------------------------------------------------ running

    async def run(self, sink: EventSink) -> None:
        self.sink = sink
        try:
            if self.connection is not None:
                await self._run_long()
            else:
                self.listener.start()
                await asyncio.Event().wait()  # tornado serves in this loop until we are cancelled
        finally:
            await self.lanes.stop()
            if self.listener is not None:
                await self.listener.stop()
            if self.connection is not None:
                await self.connection.close()
            await self.webhooks.close()
            if self._http is not None:
                await self._http.aclose()

    async def _run_long(self) -> None:
        """Connect, serve, reconnect with a backoff from 0.5 s; never after being displaced."""
        conn, config = self.connection, self.config
        backoff, first = FIRST_BACKOFF_SECONDS, True
        while True:
            try:
                await conn.open()
            except Refused as exc:
                line = f"wecom: WeCom refused the long connection for bot {config.bot_id} with the secret in {config.secret_env} ({exc})"
                if first:
                    raise AdapterStartError(line) from None
                self._report(line)
                await asyncio.sleep(config.reconnect_max_seconds)
                continue
            except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
                if first:
                    raise AdapterStartError(f"wecom: cannot reach {config.ws_url} ({type(exc).__name__}: {exc})") from None
                log.warning("wecom: reconnecting failed (%s); next try in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, config.reconnect_max_seconds)
                continue
            log.info("wecom: long connection subscribed for bot %s", config.bot_id)
            first = False
            try:
                reason = await conn.serve()
            except Displaced:
                await self._displaced()
            if conn.frames:  # it worked: this is a new outage, start the backoff over
                backoff = FIRST_BACKOFF_SECONDS
            log.warning("wecom: the long connection ended (%s); reconnecting in %.1fs", reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, config.reconnect_max_seconds)

    async def _displaced(self) -> None:
        self.displaced = True
        self._report(f"wecom: another long connection subscribed with bot id {self.config.bot_id}, and WeCom closed "
                     "this one. This process no longer receives messages and does not reconnect (two processes "
                     "would push each other off in turn): run one process per AI bot. Group webhooks still work.")
        await asyncio.Event().wait()  # stay, so messages the bot starts still reach the webhooks

    # ------------------------------------------------------------------ events

    def _accept(self, body: dict, callback: Callback) -> MessageReceived | None:
        """The event for a callback body if it is new; remembers the callback for answers."""
        try:
            event = self.translator.message(body)
        except (KeyError, TypeError, ValueError):
            log.warning("wecom: a malformed callback skipped: %.300r", body)
            return None
        if event is None:
            return None
        if not self.seen.first_time(("message", event.id)):
            log.info("wecom: message %s delivered again; skipped", event.id)
            return None
        callback.group, callback.msgid, callback.user = event.group, event.id, event.user
        self.answers.add(callback)
        if event.group not in self._groups:
            self._groups.add(event.group)
            log.info("wecom: serving group %s (webhook: %s)", event.group, "yes" if self.webhooks.has(event.group) else "none")
        return event

    async def _on_frame(self, cmd: str, req_id: str, body: dict) -> None:
        if cmd != CALLBACK:  # entering a direct chat, card buttons, feedback: nothing Qunbot uses
            log.debug("wecom: event callback %s skipped", (body.get("event") or {}).get("eventtype"))
            return
        callback = Callback("", "", "", asyncio.get_running_loop().time(), req_id=req_id)
        event = self._accept(body, callback)
        if event is not None:
            self.lanes.submit(event.group, lambda: self._handle(event))

    async def _handle(self, event: MessageReceived):
        try:
            return await self.sink.handle_and_send(event)
        except Exception:  # a store or plugin failure must not end the connection
            log.exception("wecom: message %s could not be handled", event.id)
            return None

    async def _on_http_callback(self, body: dict) -> list[str]:
        """Callback mode: handle the event now, and answer with the replies ready within the wait."""
        callback = Callback("", "", "", asyncio.get_running_loop().time(), response_url=str(body.get("response_url", "")),
                            collected=[])
        event = self._accept(body, callback)
        if event is None:
            return []
        done = await self._handle(event)
        if isinstance(done, asyncio.Future):
            try:
                await asyncio.wait_for(asyncio.shield(done), self.config.callback.reply_wait_seconds)
            except TimeoutError:
                log.info("wecom: replies to %s not ready in %gs; they follow through response_url", event.id,
                         self.config.callback.reply_wait_seconds)
        texts, callback.collected = callback.collected, None
        return texts

    # ------------------------------------------------------------------ actions

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:
        """A picture of a mixed message: its URL downloaded (encrypted: at most one padding block more)
        and decrypted with the URL's aeskey, or in callback mode the EncodingAESKey."""
        aeskey = self.translator.media_keys.get(reference)
        try:
            key = media_key(aeskey) if aeskey else self.crypto.key if self.crypto is not None else None
        except CryptoError as exc:
            raise PlatformError(f"picture not decrypted: {exc}") from None
        if key is None:
            raise PlatformError("no key for this picture (its aeskey was not kept)")
        data = await download(reference, max_bytes + BLOCK)
        try:
            picture = decrypt_media(data, key)
        except CryptoError as exc:
            raise PlatformError(f"picture not decrypted: {exc}") from None
        if len(picture) > max_bytes:
            raise PlatformError(f"picture larger than {max_bytes} bytes")
        return picture

    async def perform(self, action: Action) -> None:
        if not isinstance(action, SendMessage):
            raise PlatformError(f"wecom cannot {action.name} (no fallback reached the adapter)")
        for attachment in filter(None, (action.image, action.file)):
            self._report(f"wecom: {action.group}: {attachment} was not sent (this adapter sends text only); "
                         f"the text was ({action.plugin}/{action.reason})")
        callback = self.answers.find(action.group, asyncio.get_running_loop().time(), action.reply_to, action.mentions)
        if callback is not None:
            try:
                if await self._answer(callback, action):
                    return
            except AnswerExpired as exc:
                log.info("%s; sending it as a message the bot starts", exc)
                self.answers.forget(callback)
        await self._start(action)

    async def _answer(self, callback: Callback, action: SendMessage) -> bool:
        """Send ``action`` as the answer to ``callback``; False when that road is used up."""
        others = tuple(m for m in dict.fromkeys(action.mentions) if m and m != callback.user)
        content = markup(action.text, others)
        what = f"answer to {callback.msgid} in group {action.group}"
        if callback.req_id:
            stream = {"id": new_req_id("stream"), "finish": True, "content": content}
            await self.connection.call("aibot_respond_msg", {"msgtype": "stream", "stream": stream}, req_id=callback.req_id, what=what)
            return True
        if callback.collected is not None:
            callback.collected.append(content)
            return True
        if callback.response_url and not callback.used:
            callback.used = True  # one message per response_url
            await self._post_response_url(callback.response_url, content, what)
            return True
        return False

    async def _post_response_url(self, url: str, content: str, what: str) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient()
        try:
            answer = (await self._http.post(url, json={"msgtype": "markdown", "markdown": {"content": content}},
                                            timeout=self.config.call_timeout)).json()
        except httpx.ConnectError:
            raise PlatformError(f"wecom: {what}: cannot reach WeCom", retryable=True) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise MaybeDelivered(f"wecom: {what}: no usable answer ({type(exc).__name__})") from None
        code = int(answer.get("errcode", 0)) if isinstance(answer, dict) else -1
        if code != 0:
            raise error_for(code, answer.get("errmsg", "") if isinstance(answer, dict) else "", what)

    async def _start(self, action: SendMessage) -> None:
        """A message the bot starts: the AI bot's proactive send where WeCom allows it, else the webhook."""
        group, now = action.group, asyncio.get_running_loop().time()
        if self.connection is not None and self.config.proactive and self._no_proactive.get(group, 0.0) <= now:
            body = {"chatid": group, "msgtype": "markdown", "markdown": {"content": markup(action.text, action.mentions)}}
            try:
                await self.connection.call("aibot_send_msg", body, what=f"message the bot starts in group {group}")
                return
            except (FloodError, MaybeDelivered):
                raise
            except PlatformError as exc:
                if exc.retryable and not self.webhooks.has(group):
                    raise
                if not exc.retryable:  # WeCom says no for this group: do not ask on every post
                    self._no_proactive[group] = now + self.config.proactive_retry_seconds
                log.warning("%s; %s", exc, "using the group's webhook" if self.webhooks.has(group) else "and the group has no webhook")
        if self.webhooks.has(group):
            await self.webhooks.send(group, action.text, tuple(m for m in dict.fromkeys(action.mentions) if m))
            return
        raise PlatformError(f"wecom: no road into group {group} for a message the bot starts: the AI bot may not "
                            "start one there, and the group has no webhook under [wecom.webhooks]")
