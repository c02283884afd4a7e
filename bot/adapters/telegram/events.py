"""Telegram updates -> neutral events, and what the adapter remembers about the messages it saw.

Group and supergroup messages only; other bots, the bot itself and channels (channel posts, automatic
forwards, messages sent on behalf of a channel) are ignored. A join may be seen twice — as a "joined"
service message and as a ``chat_member`` update — and is reported once.
"""

from __future__ import annotations

import time

from telegram import Chat, ChatMember, ChatMemberUpdated, Message, MessageEntity, Update

from bot.adapters.telegram.roles import Roles
from bot.lru import Recent
from bot.model import Event, JoinRequested, MemberJoined, MemberLeft, MessageReceived

PLATFORM = "telegram"
GROUP_TYPES = (Chat.GROUP, Chat.SUPERGROUP)
PRESENT = (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER, ChatMember.RESTRICTED)
# A join seen again within this many seconds is the same join, seen the other way.
SAME_JOIN_SECONDS = 120.0
FILE_KINDS = ("document", "video", "audio", "voice", "video_note", "animation")


class Memory:
    """What later actions need from earlier updates: a message's topic and date, members' names."""

    def __init__(self):
        self.threads: Recent = Recent(20_000)  # (chat, message id) -> forum topic id
        self.dates: Recent = Recent(20_000)  # (chat, message id) -> when it was sent
        self.names: Recent = Recent(20_000)  # user id -> display name
        self.usernames: Recent = Recent(20_000)  # lower-case @username -> user id
        self.membership: Recent = Recent(20_000)  # (chat, user) -> (joined?, monotonic time)

    def saw(self, message: Message) -> None:
        key = (str(message.chat.id), str(message.message_id))
        if message.is_topic_message and message.message_thread_id:
            self.threads[key] = message.message_thread_id
        self.dates[key] = message.date
        if message.from_user:
            self.names[str(message.from_user.id)] = message.from_user.full_name
            if message.from_user.username:
                self.usernames[message.from_user.username.lower()] = str(message.from_user.id)

    def first_report(self, chat: str, user: str, joined: bool) -> bool:
        """Whether this join (or leave) is news, not the second sighting of one already reported."""
        last = self.membership.get((chat, user))
        self.membership[(chat, user)] = (joined, time.monotonic())
        return last is None or last[0] != joined or time.monotonic() - last[1] > SAME_JOIN_SECONDS


class Translator:
    def __init__(self, bot_id: int, bot_username: str, roles: Roles, memory: Memory):
        self.bot_id, self.bot_username = bot_id, bot_username.lower()
        self.roles, self.memory = roles, memory

    async def events(self, update: Update) -> list[Event]:
        if update.chat_member is not None:
            return self._member_change(update)
        if update.my_chat_member is not None:
            self.roles.forget(update.my_chat_member.chat.id)  # our own rights changed
            return []
        if update.chat_join_request is not None:
            return self._join_request(update)
        message = update.message
        if message is None or message.chat.type not in GROUP_TYPES:
            return []  # channel posts, edits, private chats …: not group traffic
        self.memory.saw(message)
        if message.new_chat_members or message.left_chat_member:
            return self._service(message)
        return [event] if (event := await self._message(message)) else []

    async def _message(self, message: Message) -> MessageReceived | None:
        chat, sender = message.chat, message.from_user
        if message.is_automatic_forward or (message.sender_chat and message.sender_chat.id != chat.id):
            return None  # a channel speaking
        if message.sender_chat:  # an anonymous administrator speaks as the group itself
            user, name, role = str(chat.id), chat.title or "", "admin"
        elif sender is None or sender.is_bot:
            return None  # other bots, and our own messages
        else:
            user, name = str(sender.id), sender.full_name
            role = await self.roles.role(chat.id, sender.id)
        reply = message.reply_to_message
        # In a forum every message "replies" to its topic's first message; that is not a reply.
        reply_to = None if reply is None or reply.message_id == message.message_thread_id else str(reply.message_id)
        return MessageReceived(
            at=message.date, platform=PLATFORM, group=str(chat.id), user=user, name=name, role=role,
            id=str(message.message_id), text=message.text or message.caption or "", kind=kind_of(message),
            mentions=self._mentions(message), reply_to=reply_to, images=pictures_of(message),
            files=files_of(message),
        )

    def _mentions(self, message: Message) -> tuple[str, ...]:
        found: list[str] = []
        entities = message.parse_entities() or message.parse_caption_entities()
        for entity, text in entities.items():
            if entity.type == MessageEntity.TEXT_MENTION and entity.user:
                found.append(str(entity.user.id))
            elif entity.type == MessageEntity.MENTION:
                name = text.lstrip("@").lower()
                user = str(self.bot_id) if name == self.bot_username else self.memory.usernames.get(name)
                if user:
                    found.append(user)
        return tuple(dict.fromkeys(found))

    def _service(self, message: Message) -> list[Event]:
        chat = str(message.chat.id)
        common = dict(at=message.date, platform=PLATFORM, group=chat)
        if message.left_chat_member:
            who = message.left_chat_member
            if who.id != self.bot_id and self.memory.first_report(chat, str(who.id), False):
                return [MemberLeft(**common, user=str(who.id), name=who.full_name)]
            return []
        inviter = message.from_user
        events: list[Event] = []
        for who in message.new_chat_members:
            if who.is_bot or not self.memory.first_report(chat, str(who.id), True):
                continue
            invited_by = str(inviter.id) if inviter and inviter.id != who.id else None
            events.append(MemberJoined(**common, user=str(who.id), name=who.full_name, inviter=invited_by))
        return events

    def _member_change(self, update: Update) -> list[Event]:
        change = update.chat_member
        old, new, who = change.old_chat_member, change.new_chat_member, change.new_chat_member.user
        chat = change.chat
        if old.status != new.status and {old.status, new.status} & {ChatMember.ADMINISTRATOR, ChatMember.OWNER}:
            self.roles.forget(chat.id)  # someone was promoted, demoted or the owner changed
        if chat.type not in GROUP_TYPES or who.is_bot:
            return []
        was_in, is_in = present(old), present(new)
        if was_in == is_in or not self.memory.first_report(str(chat.id), str(who.id), is_in):
            return []
        if not is_in:
            return [MemberLeft(at=change.date, platform=PLATFORM, group=str(chat.id), user=str(who.id), name=who.full_name)]
        return [MemberJoined(at=change.date, platform=PLATFORM, group=str(chat.id), user=str(who.id), name=who.full_name,
                             inviter=inviter_of(change, self.bot_id))]

    def _join_request(self, update: Update) -> list[Event]:
        request = update.chat_join_request
        if request.chat.type not in GROUP_TYPES:
            return []
        who = request.from_user
        self.memory.names[str(who.id)] = who.full_name
        # Telegram has no request id: a request is answered by (chat, user), so the user id names it.
        return [JoinRequested(at=request.date, platform=PLATFORM, group=str(request.chat.id), user=str(who.id),
                              name=who.full_name, id=str(who.id), answer=request.bio or "")]


def inviter_of(change: ChatMemberUpdated, bot_id: int | None) -> str | None:
    """Who brought the member in: the creator of the (non-primary) invite link they came by, or whoever
    added them; None when they came by themselves, by the group's primary link, or were let in on a join
    request (the admin who approved it invited nobody)."""
    who, link = change.new_chat_member.user, change.invite_link
    if link is not None:
        creator = link.creator
        return str(creator.id) if creator and not link.is_primary and creator.id not in (who.id, bot_id) else None
    adder = change.from_user
    if change.via_join_request or adder is None or adder.is_bot or adder.id == who.id:
        return None
    return str(adder.id)


def present(member: ChatMember) -> bool:
    if member.status == ChatMember.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return member.status in PRESENT


def pictures_of(message: Message) -> tuple[str, ...]:
    """The file id of the photo (its largest size) or of a picture sent as a document."""
    if message.photo:
        return (message.photo[-1].file_id,)
    document = message.document
    if document is not None and str(document.mime_type or "").startswith("image/"):
        return (document.file_id,)
    return ()


def files_of(message: Message) -> tuple[tuple[str, str], ...]:
    """(file name, file id) of a document that is not a picture (pictures are ``pictures_of``'s)."""
    document = message.document
    if document is None or str(document.mime_type or "").startswith("image/"):
        return ()
    return ((document.file_name or "file", document.file_id),)


def kind_of(message: Message) -> str:
    if message.photo or message.sticker:
        return "image"
    if any(getattr(message, field) for field in FILE_KINDS):
        return "file"
    entities = (message.entities or ()) + (message.caption_entities or ())
    if any(e.type in (MessageEntity.URL, MessageEntity.TEXT_LINK) for e in entities):
        return "link"
    return "text"
