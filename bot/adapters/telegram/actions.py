"""Neutral actions -> Bot API calls, and Telegram's errors -> the outbox's FloodError / PlatformError.

Messages use the HTML parse mode: the text is escaped, mentions become ``tg://user`` links. A member's
mute is lifted by restoring the group's default permissions (not by allowing everything); "mute all"
saves the permissions it replaces in a file and restores exactly those.
"""

from __future__ import annotations

import html
import json
import logging
import os
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from telegram import Bot, ChatPermissions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.adapters.base import FloodError, MaybeDelivered, PlatformError
from bot.adapters.telegram.events import Memory
from bot.model import Action, DecideJoin, DeleteMessage, KickMember, MuteAll, MuteMember, SendMessage, SetCard

log = logging.getLogger(__name__)

# Bots may delete others' messages for 48 hours; keep a margin for the time the queue takes.
DELETE_WINDOW = timedelta(hours=48) - timedelta(minutes=1)
# Telegram treats a restriction shorter than 30 seconds as "forever".
MIN_MUTE_SECONDS = 30
# The admin right each action needs, named in the report when Telegram refuses for lack of rights.
RIGHTS = {
    "delete": "can_delete_messages", "mute": "can_restrict_members", "mute_all": "can_restrict_members",
    "kick": "can_restrict_members", "decide_join": "can_invite_users", "set_card": "can_manage_tags",
    "send": "permission to post",
}
RIGHTS_HINTS = ("not enough rights", "admin_required", "administrator rights", "have no rights", "can't be deleted",
                "not a member", "chat_write_forbidden", "need administrator")


# The longest caption the Bot API takes under a photo or document (characters after entity parsing).
CAPTION_LIMIT = 1024


class SavedPermissions:
    """Group permissions replaced by "mute all", kept in a JSON file until they are restored."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._saved: dict[str, dict] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the saved permissions in {path}: {exc}") from exc

    def get(self, chat: str) -> ChatPermissions | None:
        data = self._saved.get(chat)
        return ChatPermissions(**data) if data is not None else None

    def put(self, chat: str, permissions: ChatPermissions | None) -> None:
        if permissions is None:
            self._saved.pop(chat, None)
        else:
            self._saved[chat] = permissions.to_dict()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self._saved, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # never leave a half-written file behind


def render(text: str, mentions: tuple[str, ...], names: dict) -> str:
    """HTML for sendMessage: mentions first, as links to the members, then the escaped text."""
    parts = []
    for user in mentions:
        label = html.escape("@" + (names.get(user) or user), quote=False)
        parts.append(f'<a href="tg://user?id={int(user)}">{label}</a>' if user.lstrip("-").isdigit() else label)
    return " ".join([*parts, html.escape(text, quote=False)]) if parts else html.escape(text, quote=False)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int form; both forms are read here
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def translate(action: Action, exc: TelegramError) -> PlatformError:
    """The outbox's view of a Telegram error: flood, retryable, or a refusal worth a clear report."""
    if isinstance(exc, RetryAfter):
        return FloodError(retry_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return PlatformError(f"the group became supergroup {exc.new_chat_id}; update the group id", retryable=False)
    if isinstance(exc, (BadRequest, Forbidden)):
        said = exc.message
        if any(hint in said.lower() for hint in RIGHTS_HINTS):
            right = RIGHTS.get(action.name, "an admin right")
            return PlatformError(f"the bot lacks the admin right {right} in this group (Telegram said: {said})", retryable=False)
        return PlatformError(f"Telegram refused: {said}", retryable=False)
    if isinstance(exc, InvalidToken):
        return PlatformError("Telegram no longer accepts the bot token", retryable=False)
    if isinstance(exc, NetworkError):  # TimedOut included; BadRequest was handled above
        if _never_sent(exc):
            return PlatformError(f"network trouble: {exc.message}", retryable=True)
        return MaybeDelivered(f"the connection failed after the request was sent ({exc.message})")
    return PlatformError(f"Telegram error: {exc}", retryable=False)


def _never_sent(exc: NetworkError) -> bool:
    """Whether the request certainly did not reach the server: no connection, or none free in the pool.
    PTB raises every httpx failure as NetworkError / TimedOut with the httpx error as its cause."""
    return isinstance(exc.__cause__, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def as_int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PlatformError(f"{what} {value!r} is not a Telegram id", retryable=False) from None


class Performer:
    def __init__(self, bot: Bot, memory: Memory, saved: SavedPermissions):
        self.bot, self.memory, self.saved = bot, memory, saved
        self._do = {SendMessage: self.send, DeleteMessage: self.delete, MuteMember: self.mute, MuteAll: self.mute_all,
                    KickMember: self.kick, SetCard: self.set_card, DecideJoin: self.decide_join}

    async def perform(self, action: Action) -> None:
        handler = self._do.get(type(action))
        if handler is None:
            raise PlatformError(f"{action.name} is not a Telegram action", retryable=False)
        try:
            await handler(action, as_int(action.group, "group"))
        except TelegramError as exc:
            raise translate(action, exc) from exc

    async def send(self, a: SendMessage, chat: int) -> None:
        text = render(a.text, a.mentions, self.memory.names)
        reply = thread = None
        if a.reply_to:
            reply = ReplyParameters(message_id=as_int(a.reply_to, "message"), allow_sending_without_reply=True)
            thread = self.memory.threads.get((a.group, a.reply_to))  # a reply stays in its forum topic
        attached = a.image or a.file
        if attached and len(a.text) > CAPTION_LIMIT:  # the words first, as a message of their own
            await self.bot.send_message(chat, text, parse_mode=ParseMode.HTML, reply_parameters=reply, message_thread_id=thread)
            text, reply = "", None
        if attached:
            send = self.bot.send_photo if a.image else self.bot.send_document
            with open(attached, "rb") as content:
                await send(chat, content, caption=text or None, parse_mode=ParseMode.HTML, reply_parameters=reply,
                           message_thread_id=thread)
            return
        await self.bot.send_message(chat, text, parse_mode=ParseMode.HTML, reply_parameters=reply, message_thread_id=thread)

    async def delete(self, a: DeleteMessage, chat: int) -> None:
        sent = self.memory.dates.get((a.group, a.message))
        if sent is not None and datetime.now(timezone.utc) - sent > DELETE_WINDOW:
            raise PlatformError(f"message {a.message} is older than 48 h and Telegram no longer lets the bot delete it; "
                                "an admin has to remove it by hand", retryable=False)
        await self.bot.delete_message(chat, as_int(a.message, "message"))

    async def mute(self, a: MuteMember, chat: int) -> None:
        user = as_int(a.user, "user")
        if a.seconds > 0:
            until = datetime.now(timezone.utc) + timedelta(seconds=max(a.seconds, MIN_MUTE_SECONDS))
            await self.bot.restrict_chat_member(chat, user, ChatPermissions.no_permissions(), until_date=until,
                                                use_independent_chat_permissions=True)
            return
        # Lifting: back to what every member of the group may do — while "mute all" is on, that is
        # what it saved, not the all-off permissions in force.
        defaults = self.saved.get(a.group) or (await self.bot.get_chat(chat)).permissions
        await self.bot.restrict_chat_member(chat, user, defaults or ChatPermissions.no_permissions(),
                                            use_independent_chat_permissions=True)

    async def mute_all(self, a: MuteAll, chat: int) -> None:
        if a.on:
            await self._mute_all_on(a.group, chat)
            return
        saved = self.saved.get(a.group)
        if saved is None:
            raise PlatformError("mute-all ended but no saved permissions exist for this group; left as they are", retryable=False)
        await self._set_permissions(chat, saved)
        self.saved.put(a.group, None)

    async def _mute_all_on(self, group: str, chat: int) -> None:
        fresh = self.saved.get(group) is None
        if fresh:  # a second "on" must not save the all-off permissions over the real ones
            current = (await self.bot.get_chat(chat)).permissions
            self.saved.put(group, current or ChatPermissions.no_permissions())
        try:
            await self._set_permissions(chat, ChatPermissions.no_permissions())
        except TelegramError:
            if fresh:
                self.saved.put(group, None)  # nothing changed, so nothing to restore
            raise

    async def _set_permissions(self, chat: int, permissions: ChatPermissions) -> None:
        try:
            await self.bot.set_chat_permissions(chat, permissions, use_independent_chat_permissions=True)
        except BadRequest as exc:
            if "not_modified" not in exc.message.lower():
                raise  # "not modified" means they already are what we want

    async def kick(self, a: KickMember, chat: int) -> None:
        user = as_int(a.user, "user")
        await self.bot.ban_chat_member(chat, user)
        await self.bot.unban_chat_member(chat, user, only_if_banned=True)  # removed, free to come back

    async def set_card(self, a: SetCard, chat: int) -> None:
        await self.bot.set_chat_member_tag(chat, as_int(a.user, "user"), a.card)

    async def decide_join(self, a: DecideJoin, chat: int) -> None:
        user = as_int(a.user, "user")
        if a.approve:
            await self.bot.approve_chat_join_request(chat, user)
        else:
            await self.bot.decline_chat_join_request(chat, user)
