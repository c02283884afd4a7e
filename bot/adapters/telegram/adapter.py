"""The Telegram adapter (python-telegram-bot 22): long polling by default, a webhook as an option.

Updates are read as raw JSON and parsed one by one, so one malformed update is logged and skipped
instead of blocking the rest. Each chat's updates are handled in order in a lane of their own, so a
slow answer for one chat (a role lookup) does not hold up the others; an update delivered again (same
update_id, or the same message of the same chat) is skipped. The only module tree that imports ``telegram``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from pathlib import Path

from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.adapters import wire
from bot.adapters.base import CAPABILITIES, AdapterStartError, EventSink, PlatformError
from bot.adapters.lanes import Lanes, Seen
from bot.adapters.telegram import webhook
from bot.adapters.telegram.actions import Performer, SavedPermissions, retry_seconds
from bot.adapters.telegram.config import TelegramConfig
from bot.adapters.telegram.events import PLATFORM, Memory, Translator
from bot.adapters.telegram.roles import Roles
from bot.adapters.telegram.webhook import SECRET_SHAPE
from bot.model import Action

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "chat_member", "my_chat_member", "chat_join_request"]
FIRST_BACKOFF_SECONDS = 1.0
INFLIGHT_WAIT_SECONDS = 0.2  # between polls while the only updates left are ones still being handled
UPDATES_PAGE = 100  # getUpdates' default limit: the most updates one poll brings
SECRET_ENV_EXAMPLE = "QUNBOT_TELEGRAM_WEBHOOK_SECRET"

class SturdyRequest(HTTPXRequest):
    """PTB's HTTP request, reading answers so that none ends the polling loop: a page of updates nested too
    deeply for ``json.loads`` (RecursionError, which PTB lets through) keeps its updates and ids, with what
    lies deeper than ``wire.MAX_DEPTH`` levels dropped; an answer that is not JSON is one log line."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict:
        text = payload.decode("utf-8", "replace")  # as PTB does: a stray byte does not lose the page
        try:
            return json.loads(text)
        except RecursionError:
            text, cuts = wire.prune(text)
            log.warning("telegram: an answer from the Bot API server was nested too deeply; %d value(s) deeper than %d "
                        "levels dropped", cuts, wire.MAX_DEPTH)
        except ValueError as exc:
            log.warning("telegram: an answer from the Bot API server is not JSON (%s): %s", exc, wire.excerpt(payload))
            raise TelegramError("Invalid server response") from None
        try:
            return json.loads(text)
        except (RecursionError, ValueError):
            raise TelegramError("Invalid server response") from None


# httpx logs every request URL at INFO, and a Bot API URL contains the token (`qunbot run` masks it, and
# with --log-level DEBUG sets these levels itself: then they are left alone).
for _chatty in ("httpx", "httpcore"):
    if logging.getLogger(_chatty).level == logging.NOTSET:
        logging.getLogger(_chatty).setLevel(logging.WARNING)


class TelegramAdapter:
    platform = PLATFORM

    def __init__(self, config: TelegramConfig, environ: dict[str, str] | None = None):
        environ = os.environ if environ is None else environ
        self.config = config
        token = environ.get(config.token_env, "").strip()
        if not token:
            raise AdapterStartError(f"telegram: the environment variable {config.token_env} (telegram.token_env) holds no bot token")
        self._secret = self._webhook_secret(config, environ) if config.mode == "webhook" else None
        # Files (pictures members send) come from the same server, under /file/bot<token>/.
        files = config.base_url[:-len("/bot")] + "/file/bot" if config.base_url.endswith("/bot") else config.base_url
        self.bot = Bot(token, base_url=config.base_url, base_file_url=files, request=SturdyRequest(connection_pool_size=32),
                       get_updates_request=SturdyRequest(read_timeout=config.poll_timeout + 15.0))
        self.memory = Memory()
        self.roles: Roles | None = None
        self.translator: Translator | None = None
        try:
            saved = SavedPermissions(Path(config.permissions_file))
        except ValueError as exc:
            raise AdapterStartError(f"telegram: {exc}") from None
        self.performer = Performer(self.bot, self.memory, saved)
        self.sink: EventSink | None = None
        self.seen = Seen()  # update ids and (chat, message id) of recent updates
        self.lanes = Lanes("telegram chat")
        # Update ids queued or being handled: getUpdates confirms only below the lowest, so an update is
        # confirmed once handled and a crash before that gets it delivered again (the database keeps a
        # check-in once); a restart may also bring back later updates already handled, which is the price.
        self.inflight: set[int] = set()

    @staticmethod
    def _webhook_secret(config: TelegramConfig, environ) -> str:
        """Webhook mode's secret: without one anyone who can reach the port could post forged updates."""
        if not config.webhook_url:
            raise AdapterStartError("telegram: mode = \"webhook\" needs telegram.webhook_url")
        how = ("put a secret of 1-256 characters (A-Z, a-z, 0-9, _ and -) in an environment variable and name it in "
               f"[telegram] webhook_secret_env (for example webhook_secret_env = \"{SECRET_ENV_EXAMPLE}\")")
        if not config.webhook_secret_env:
            raise AdapterStartError(f"telegram: webhook mode needs a secret, so that forged updates are refused: {how}")
        secret = environ.get(config.webhook_secret_env, "")
        if not secret:
            raise AdapterStartError(f"telegram: the environment variable {config.webhook_secret_env} "
                                    f"(telegram.webhook_secret_env) holds no webhook secret: {how}")
        if not SECRET_SHAPE.fullmatch(secret):
            raise AdapterStartError(f"telegram: the webhook secret in {config.webhook_secret_env} is not 1-256 characters "
                                    "of A-Z, a-z, 0-9, _ and - (what Telegram accepts)")
        return secret

    def capabilities(self, group: str) -> frozenset[str]:
        base = CAPABILITIES[PLATFORM]
        # Member tags need the can_manage_tags right; without it a nickname rule falls back to a reminder.
        if self.roles is not None and group.lstrip("-").isdigit() and self.roles.bot_can(group, "can_manage_tags"):
            return base | {"set_card"}
        return base

    async def run(self, sink: EventSink) -> None:
        self.sink = sink
        if self.roles is None:
            await self.connect()
        sink.learn_bot_username(PLATFORM, self.bot.bot.username or "")
        try:
            if self.config.mode == "webhook":
                await self._serve_webhook()
            else:
                await self._poll()
        finally:
            await self.lanes.stop()
            await self.bot.shutdown()

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:
        """A photo by its file id: getFile, then the file's download (refused beyond ``max_bytes``)."""
        try:
            found = await self.bot.get_file(reference)
            if found.file_size and found.file_size > max_bytes:
                raise PlatformError(f"picture larger than {max_bytes} bytes ({found.file_size})")
            return bytes(await found.download_as_bytearray())
        except TelegramError as exc:
            raise PlatformError(f"picture not fetched: {exc}") from exc

    async def perform(self, action: Action) -> None:
        await self.performer.perform(action)

    # ------------------------------------------------------------------ connecting

    async def connect(self) -> None:
        """Check the token and the server (getMe); raises AdapterStartError naming the problem."""
        where = self.config.base_url
        try:
            await self.bot.initialize()  # getMe: proves the token and the server
        except InvalidToken:
            raise AdapterStartError(f"telegram: the Bot API server at {where} refused the token in {self.config.token_env} (Unauthorized)") from None
        except NetworkError as exc:
            raise AdapterStartError(f"telegram: cannot reach the Bot API server at {where}: {exc.message or type(exc).__name__}") from None
        except TelegramError as exc:
            raise AdapterStartError(f"telegram: the Bot API server at {where} refused getMe: {exc.message}") from None
        me = self.bot.bot
        self.roles = Roles(self.bot, me.id, self.config.admin_cache_seconds)
        self.translator = Translator(me.id, me.username or "", self.roles, self.memory)
        log.info("telegram: connected as @%s (%s mode)", me.username, self.config.mode)

    async def _poll(self) -> None:
        await self.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        offset, backoff = 0, FIRST_BACKOFF_SECONDS
        while True:
            try:
                raw = await self._get_updates(min(self.inflight, default=offset))
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
                continue
            except InvalidToken:
                raise AdapterStartError(f"telegram: the token in {self.config.token_env} was revoked while running") from None
            except (NetworkError, TelegramError) as exc:
                log.warning("telegram: getUpdates failed (%s); reconnecting in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_seconds)
                continue
            if backoff > FIRST_BACKOFF_SECONDS:
                log.info("telegram: connection restored")
                backoff = FIRST_BACKOFF_SECONDS
            fresh = sum(map(self._accept_any, raw))
            offset = max([offset, *map(_next_offset, raw)])
            if raw and not fresh and self.inflight:
                if len(raw) >= UPDATES_PAGE:
                    # A whole page held behind a slow update: confirm past it rather than stall every group.
                    log.info("telegram: %d updates still being handled are confirmed before their end", len(self.inflight))
                    self.inflight.clear()
                else:
                    await asyncio.sleep(INFLIGHT_WAIT_SECONDS)  # only what is still being handled came back: no spinning

    async def _get_updates(self, offset: int) -> list:
        kwargs = {"offset": offset, "timeout": self.config.poll_timeout, "allowed_updates": ALLOWED_UPDATES}
        with warnings.catch_warnings():  # PTB prefers bot.get_updates, which cannot skip one bad update
            warnings.simplefilter("ignore")
            result = await self.bot.do_api_request("getUpdates", api_kwargs=kwargs, read_timeout=self.config.poll_timeout + 15.0)
        return result if isinstance(result, list) else []

    def _accept_any(self, data) -> bool:
        """``_accept``, which no update of a page may end the polling loop by failing."""
        try:
            return self._accept(data)
        except Exception as exc:
            log.warning("telegram: update %s skipped: it cannot be read (%s: %.120s)", _update_id(data), type(exc).__name__, exc)
            return False

    def _accept(self, data) -> bool:
        """Queue an update in its chat's lane, unless it is one already seen (delivered again); True when queued."""
        chat, message = _origin(data)
        keys = [("update", _update_id(data))] if _update_id(data) != "?" else []
        if message:
            keys.append(("message", chat, message))
        fresh = [self.seen.first_time(key) for key in keys]  # every key is remembered, hence no all()
        if keys and not all(fresh):
            if _next_offset(data) - 1 not in self.inflight:  # those come back by design until handled
                log.info("telegram: update %s delivered again; skipped", _update_id(data))
            return False
        uid = _next_offset(data) - 1
        if uid >= 0:
            self.inflight.add(uid)

        async def handle() -> None:
            try:
                await self._handle(data)
            finally:
                self.inflight.discard(uid)

        self.lanes.submit(chat, handle)
        return True

    async def _handle(self, data) -> None:
        try:
            update = data if isinstance(data, Update) else Update.de_json(data, self.bot)
            events = await self.translator.events(update)
        except TelegramError as exc:  # a role lookup that failed is handled in Roles; this is unexpected
            log.warning("telegram: update %s skipped: %s", _update_id(data), exc)
            return
        except Exception:
            log.exception("telegram: malformed update %s skipped", _update_id(data))
            return
        for event in events:
            try:
                await self.sink.handle_and_send(event)
            except Exception:  # a store or plugin failure must not end the polling loop
                log.exception("telegram: %s from update %s could not be handled", event.name, _update_id(data))

    async def _serve_webhook(self) -> None:
        c = self.config
        try:
            server = webhook.listen(c.webhook_listen, c.webhook_port, c.webhook_path, self._secret, self._posted,
                                    webhook.MAX_BYTES)
        except OSError as exc:
            raise AdapterStartError(f"telegram: cannot listen on {c.webhook_listen}:{c.webhook_port}: {exc.strerror or exc}") from None
        try:
            await self.bot.set_webhook(c.webhook_url, allowed_updates=ALLOWED_UPDATES, secret_token=self._secret)
            log.info("telegram: webhook listening on %s:%s/%s", c.webhook_listen, c.webhook_port, c.webhook_path.strip("/"))
            await asyncio.Event().wait()  # until cancelled
        finally:
            server.stop()
            await server.close_all_connections()

    def _posted(self, body: bytes, peer: str) -> None:
        """One authenticated webhook post: an update to queue, or one log line when it cannot be read."""
        try:
            data = wire.loads(body)
        except wire.Unreadable as exc:
            log.warning("telegram webhook: skipped a post from %s that is not JSON (%s): %s", peer, exc, wire.excerpt(body))
            return
        if not isinstance(data, dict):
            log.warning("telegram webhook: skipped a post from %s that is not an update: %s", peer, wire.excerpt(body))
            return
        self._accept_any(data)


def _update_id(data) -> str:
    if isinstance(data, Update):
        return str(data.update_id)
    return str(data.get("update_id", "?")) if isinstance(data, dict) else "?"


def _origin(data) -> tuple[str, str]:
    """The chat an update comes from (its lane; "" when it names none) and the message it carries, if any."""
    if isinstance(data, Update):
        data = data.to_dict()
    if not isinstance(data, dict):
        return "", ""
    for kind in ALLOWED_UPDATES:
        body = data.get(kind)
        if isinstance(body, dict) and isinstance(body.get("chat"), dict):
            message = body.get("message_id") if kind == "message" else None
            return str(body["chat"].get("id", "")), str(message) if message is not None else ""
    return "", ""


def _next_offset(data) -> int:
    """The offset that confirms ``data``; 0 (no change) when it carries no usable update_id."""
    try:
        return int(data["update_id"]) + 1
    except (TypeError, KeyError, ValueError, OverflowError):  # OverflowError: int(Infinity)
        return 0
