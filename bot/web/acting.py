"""A change made on a page is the chat command that makes it, run as the person logged in.

``/approve``, ``/decline``, ``/notad``, ``/set`` and ``/unset`` go through ``Engine.run_command``: the same
handlers, the same role check, the same validation, guards and audit rows as in the chat. What the command
answers its sender (a reply to the command) is shown on the page instead of being sent to the group;
everything else (the platform decision, an unmute, an announcement) is delivered as it would be (written
with the command's state in one transaction, like a chat command's), and the page says whether it went out.
Where another process owns the group (replicas with leases), nothing is done here. Each change adds a row to the audit log naming who, where and how.
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
    owned = engine.leases.owns(group)
    if owned is None:
        owned = await engine.leases.claim(group)
    if not owned:  # replicas: the group's one voice is another process (README, Topologies)
        return Outcome(["这个群现在由另一个 Qunbot 进程负责，请在那个进程的后台操作；这里什么也没有改动。"], None, 0, refused=True)
    platform, _, chat = group.partition(":")
    user, name = acting_user(session, group)
    event = MessageReceived(at=engine.clock.now(), platform=platform, group=chat, user=user, name=name, role=role,
                            id=f"web-{secrets.token_hex(6)}", text=command, reply_to=reply_to)
    answers: list[SendMessage] = []

    async def run() -> list:
        actions = await engine.run_command(event)
        answers.extend(a for a in actions if type(a) is SendMessage and a.reply_to == event.id)
        return [a for a in actions if a not in answers]  # the answers are shown on the page, not sent

    rest, delivery = await engine.run_and_send(run, event.at)
    said = [a.text for a in answers]
    delivered = await _outcome(delivery) if rest else None
    entry = dict(at=event.at, group_key=group, user_id=session.who, role=role, plugin="web",
                 command=f"[后台{(' ' + origin) if origin else ''}] {command}", key=command.split()[0].lstrip("/"),
                 old_value=None, new_value="\n".join(said)[:2000] or None)
    await engine.store.run(lambda conn: add_audit(conn, **entry))
    return Outcome(said, delivered, sum(1 for a in rest if type(a) is not SendMessage),
                   next((a.file for a in answers if a.file), None), any(a.reason in REFUSALS for a in answers))


async def _outcome(delivery) -> bool | None:
    if not isinstance(delivery, asyncio.Future):
        return None if delivery is None else bool(delivery)
    try:
        return await asyncio.wait_for(asyncio.shield(delivery), DELIVERY_WAIT_SECONDS)
    except asyncio.TimeoutError:
        return None
