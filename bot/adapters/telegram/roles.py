"""Who is owner or admin in each group, from ``getChatAdministrators``, cached.

One call per group per ``ttl`` (and again after a member's status changed), never one per message. The
same list tells which admin rights the bot itself holds, so capabilities can follow them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import Bot, ChatMember
from telegram.error import TelegramError

log = logging.getLogger(__name__)

# When the list cannot be fetched, members count as members (refusing admin commands is the safe side)
# and the next message tries again after this many seconds.
RETRY_SECONDS = 30.0


class Roles:
    def __init__(self, bot: Bot, bot_id: int, ttl: float):
        self.bot, self.bot_id, self.ttl = bot, bot_id, ttl
        self._roles: dict[int, dict[int, str]] = {}
        self._rights: dict[int, ChatMember | None] = {}  # the bot's own membership, where it is admin
        self._expires: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def role(self, chat_id: int, user_id: int) -> str:
        await self._fresh(chat_id)
        return self._roles.get(chat_id, {}).get(user_id, "member")

    def bot_can(self, chat_id: int | str, right: str) -> bool:
        """Whether the bot is known to hold an admin right in the group (False while unknown)."""
        me = self._rights.get(int(chat_id))
        return me is not None and (me.status == ChatMember.OWNER or bool(getattr(me, right, False)))

    def forget(self, chat_id: int) -> None:
        self._expires.pop(chat_id, None)

    async def _fresh(self, chat_id: int) -> None:
        if self._expires.get(chat_id, 0.0) > time.monotonic():
            return
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:  # a burst of messages in a new group makes one call, not one each
            if self._expires.get(chat_id, 0.0) > time.monotonic():
                return
            try:
                admins = await self.bot.get_chat_administrators(chat_id)
            except TelegramError as exc:
                log.warning("telegram: cannot read the administrators of %s (%s); treating senders as members", chat_id, exc)
                self._expires[chat_id] = time.monotonic() + RETRY_SECONDS
                return
            self._roles[chat_id] = {a.user.id: "owner" if a.status == ChatMember.OWNER else "admin" for a in admins}
            self._rights[chat_id] = next((a for a in admins if a.user.id == self.bot_id), None)
            self._expires[chat_id] = time.monotonic() + self.ttl
