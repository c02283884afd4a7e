"""Slash-command parsing and the permission check.

A command is ``/name args`` or ``／name args`` (full-width slash, as Chinese input methods type it),
optionally addressed ``/name@botname`` the way Telegram does in groups. Names are matched
case-insensitively; Chinese aliases are just more names.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import ROLE_RANK

COMMAND_PREFIXES = ("/", "／")
_FULL_WIDTH_SPACE = "\u3000"


@dataclass(frozen=True, slots=True)
class CommandCall:
    """A parsed command line: ``name`` lower-cased, ``target`` the ``@botname`` it was addressed to."""

    name: str
    args: tuple[str, ...]
    target: str | None = None

    @property
    def rest(self) -> str:
        return " ".join(self.args)


@dataclass(frozen=True, slots=True)
class Command:
    """A command a plugin offers: its names (the first is the primary) and the least role that may use it."""

    names: tuple[str, ...]
    role: str = "member"

    @property
    def primary(self) -> str:
        return self.names[0]


def parse_command(text: str) -> CommandCall | None:
    """Parse ``text`` as a command, or return None when it is not one."""
    if not text or text[0] not in COMMAND_PREFIXES:
        return None
    parts = text[1:].replace(_FULL_WIDTH_SPACE, " ").split()
    if not parts:
        return None
    head, _, target = parts[0].partition("@")
    if not head:
        return None
    return CommandCall(name=head.lower(), args=tuple(parts[1:]), target=target or None)


def effective_role(role: str, platform: str, user: str, bot_admins: frozenset[str]) -> str:
    """The caller's role: the platform's word, raised to owner for bot admins named in config."""
    if bot_admins and f"{platform}:{user}" in bot_admins:  # most deployments name none: skip the key
        return "owner"
    return role


def permits(role: str, required: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[required]
