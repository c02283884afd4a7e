"""A change made on a page is the chat command that makes it, run as the person logged in.

``/approve``, ``/decline``, ``/notad``, ``/set`` and ``/unset`` go through ``Engine.run_command``: the same
handlers, the same role check, the same validation, guards and audit rows as in the chat. What the command
answers its sender (a reply to the command) is shown on the page instead of being sent to the group;
everything else (the platform decision, an unmute, an announcement) is delivered as it would be, and the
page says whether it went out. Each change adds a row to the audit log naming who, where and how.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from bot.model import MessageReceived, SendMessage
from bot.store.repos import add_audit
from bot.web.auth import Session

# The reasons of a command's answer that mean it changed nothing (the page shows them as a refusal).
REFUSALS = frozenset({"not_permitted", "usage", "invalid_value", "not_pending", "nothing_to_undo", "nothing_to_unset",
                      "admin_only", "owner_only", "file_only"})

# How long a page waits for the platform's answer before it says the action is still under way.
DELIVERY_WAIT_SECONDS = 15.0


@dataclass
class Outcome:
    said: list[str]  # the command's answers to its sender
    delivered: bool | None  # the other actions: all out (True), some failed (False), none or still going (None)
    acted: int  # how many actions went to the platform
    file: str | None = None  # a document the command's answer carries (/导出's CSV)
    refused: bool = False  # the command said no (see REFUSALS)


def acting_user(session: Session, group: str) -> tuple[str, str]:
    """The user id and display name a command from ``session`` is given as in ``group``: the person's own
    platform id where it is their platform, else the console's operator."""
    platform, _, user = session.who.partition(":")
    if user and group.startswith(f"{platform}:"):
        return user, session.name or user
    return "operator", session.name or "后台"


async def run_as(engine, session: Session, group: str, command: str, reply_to: str | None = None,
                 origin: str = "") -> Outcome:
    """Run ``command`` (``/approve 401``) in ``group`` as ``session``'s person with their role there."""
    role = session.role_in(group)
    if role is None:
        raise PermissionError(group)
    platform, _, chat = group.partition(":")
    user, name = acting_user(session, group)
    event = MessageReceived(at=engine.clock.now(), platform=platform, group=chat, user=user, name=name, role=role,
                            id=f"web-{secrets.token_hex(6)}", text=command, reply_to=reply_to)
    actions = await engine.run_command(event)
    answers = [a for a in actions if type(a) is SendMessage and a.reply_to == event.id]
    said = [a.text for a in answers]
    rest = [a for a in actions if a not in answers]
    delivered = await _deliver(engine, rest, event.at)
    entry = dict(at=event.at, group_key=group, user_id=session.who, role=role, plugin="web",
                 command=f"[后台{(' ' + origin) if origin else ''}] {command}", key=command.split()[0].lstrip("/"),
                 old_value=None, new_value="\n".join(said)[:2000] or None)
    await engine.store.run(lambda conn: add_audit(conn, **entry))
    return Outcome(said, delivered, sum(1 for a in rest if type(a) is not SendMessage),
                   next((a.file for a in answers if a.file), None), any(a.reason in REFUSALS for a in answers))


async def _deliver(engine, actions: list, at) -> bool | None:
    if not actions:
        return None
    result = engine.deliver(actions, at)
    if not isinstance(result, asyncio.Future):
        return None if result is None else bool(result)
    try:
        return await asyncio.wait_for(asyncio.shield(result), DELIVERY_WAIT_SECONDS)
    except asyncio.TimeoutError:
        return None
