"""The console sandbox: one group in the terminal, for trying rules without any platform account.

Type as a member; lines starting with ``:`` steer the sandbox (``:as 小王 admin``, ``:join 新人`` …, see
``:help``). Works with piped standard input, one line at a time, so it can be scripted; it ends at EOF.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Protocol

from bot.adapters.base import CAPABILITIES, EventSink
from bot.adapters.console.config import ConsoleConfig
from bot.model import ROLE_RANK, Action, Event, JoinRequested, MemberJoined, MemberLeft, MessageReceived

if TYPE_CHECKING:
    from bot.templates import Templates

PLATFORM = "console"


class _Drains(Protocol):
    async def drain(self) -> None: ...


class SandboxSink(EventSink, Protocol):
    """What the sandbox needs beyond any adapter's sink, because it shares the engine's process and
    terminal: the operator's templates for its own lines, and the outbox, to show the bot's answer before
    reading the next line."""

    templates: Templates
    outbox: _Drains


class ConsoleAdapter:
    platform = PLATFORM

    def __init__(self, config: ConsoleConfig, stdin: IO[str] | None = None, stdout: IO[str] | None = None):
        self.group = config.group
        self.user = config.user
        self.roles: dict[str, str] = {config.user: config.role}
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        # Message ids name one message for good: a later session on the same database must not reuse them
        # (a message sent again is recognised by its id, bus.Context.first_to_see, the check-in's own).
        self._ids = itertools.count(1)
        self._session = secrets.token_hex(3)
        self.sink: SandboxSink | None = None

    def capabilities(self, group: str) -> frozenset[str]:
        return CAPABILITIES[PLATFORM]

    def _show(self, template: str, **values) -> None:
        self.stdout.write(self.sink.templates.render(template, **values) + "\n")
        self.stdout.flush()

    async def run(self, sink: SandboxSink) -> None:
        self.sink = sink
        self._show("console/banner", group=self.group, user=self.user, role=self.roles[self.user])
        while True:
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                return  # EOF: a piped script is done
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                event = self._steer(line[1:].split())
                if event is False:
                    return
            else:
                event = self._message(line)
            if event is not None:
                await sink.handle_and_send(event)
                await sink.outbox.drain()  # show the bot's answer before reading on

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def _message(self, text: str) -> MessageReceived:
        return MessageReceived(
            at=self._now(), platform=PLATFORM, group=self.group, user=self.user, name=self.user,
            role=self.roles.get(self.user, "member"), id=f"m{next(self._ids)}.{self._session}", text=text,
        )

    def _steer(self, words: list[str]) -> Event | None | bool:
        """A ``:`` line; returns an event to handle, None when there is none, False to quit."""
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        common = dict(at=self._now(), platform=PLATFORM, group=self.group)
        if verb in ("quit", "exit", "q"):
            return False
        if verb == "as" and args:
            role = args[1] if len(args) > 1 else self.roles.get(args[0], "member")
            if role not in ROLE_RANK:
                self._show("console/notice", kind="bad_role", role=role)
                return None
            self.user, self.roles[args[0]] = args[0], role
            self._show("console/notice", kind="now_as", user=self.user, role=role)
            return None
        if verb == "join" and args:
            self.roles.setdefault(args[0], "member")
            return MemberJoined(**common, user=args[0], name=args[0])
        if verb == "leave" and args:
            return MemberLeft(**common, user=args[0], name=args[0])
        if verb == "request" and args:
            return JoinRequested(**common, user=args[0], name=args[0], id=f"r{next(self._ids)}.{self._session}", answer=" ".join(args[1:]))
        self._show("console/help")
        return None

    async def perform(self, action: Action) -> None:
        self._show("console/action", a=action, kind=action.name)
