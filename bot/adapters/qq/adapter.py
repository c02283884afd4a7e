"""QQ groups through OneBot v11 (NapCat, Lagrange.OneBot, LLOneBot), over forward or reverse WebSocket.

Several accounts may connect at once; each group is served by the first account that reported it.
Roles in events are "best effort" (spec) and may be stale, so before a mute or kick the adapter asks
``get_group_member_info(no_cache=true)`` and never punishes an owner, an admin, or anyone the bot does
not outrank. Actions that should produce a notice (join approved, kick, mute) are watched: an "ok"
with no notice within ``confirm_seconds`` is reported, since some implementations answer ok and do nothing.
The bot's own role in each group is learnt at connection (and kept current by ``group_admin`` notices and
every role check), so that where it is a plain member the capabilities say "send" only and plugins promise
nothing it cannot do; a group whose role is not known yet is asked about in the background.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from bot.adapters.base import CAPABILITIES, AdapterStartError, EventSink, PlatformError
from bot.adapters.download import download
from bot.adapters.lanes import Seen
from bot.adapters.qq.config import QQConfig
from bot.adapters.qq.connection import Connection, keep_forward, serve_reverse
from bot.adapters.qq.events import PLATFORM, MalformedEvent, to_event
from bot.adapters.qq.message import MalformedMessage, outgoing, read, segments_of
from bot.lru import Recent
from bot.model import (ROLE_RANK, Action, DecideJoin, DeleteMessage, JoinRequested, KickMember, MuteAll, MuteMember,
                       SendMessage, SetCard)

log = logging.getLogger(__name__)

# What a plain member may do in a QQ group: not recall, mute or remove others, nor set their cards.
MEMBER_CAPABILITIES = frozenset({"send"})
# How far back ``has_sent`` looks: a restart asks right away, so the post in doubt is among the last few.
HISTORY_LOOKED_AT = 50
# Member info missing this soon after a member's join notice may still come (the implementation lags):
# only then is it asked for again.
RECENT_JOIN_SECONDS = 120.0


def _num(value: str) -> int | str:
    """OneBot ids are numbers; keep anything that is not one as given (some implementations use text)."""
    return int(value) if value.lstrip("-").isdigit() else value


def _one_line(exc: Exception) -> str:
    """A parse error for one log line: pydantic's own message spans lines and quotes the input."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors(include_input=False))
    return str(exc)[:200]


def _role(info: dict) -> str:
    return info.get("role") if info.get("role") in ROLE_RANK else "member"


async def _started(starts: list[asyncio.Future], tasks: list[asyncio.Task]) -> list:
    """Wait until every connection has made its first attempt; an AdapterStartError (or a runner
    that crashed before settling its start) is raised here."""
    waiting, live = set(starts), set(tasks)
    while waiting:
        done, _ = await asyncio.wait(waiting | live, return_when=asyncio.FIRST_COMPLETED)
        for item in done:
            item.result()
        waiting -= done
        live -= done
    return [start.result() for start in starts]


class QQAdapter:
    platform = PLATFORM

    def __init__(self, config: QQConfig, environ: dict[str, str] | None = None):
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.sink: EventSink | None = None
        self.seen = Seen()
        self.connections: dict[str, Connection] = {}  # QQ account (self_id) -> its live connection
        self.groups: dict[str, str] = {}  # group id -> the account that serves it
        self.reverse_port: int | None = None
        self.unconfirmed: list[str] = []  # actions answered ok whose notice never came (for operators, tests)
        self._request_kinds: dict[str, str] = {}  # join request flag -> "add" | "invite"
        self._waiting: dict[tuple, asyncio.Future] = {}  # expected notice -> who waits for it
        self._joins: Recent = Recent(10_000)  # (group, user) -> loop time of the join notice
        self._tasks: set[asyncio.Task] = set()
        self.changed = asyncio.Condition()  # notified when accounts come and go (tests wait on it)
        self.bot_roles: dict[str, str] = {}  # group -> the bot's role there, as last learnt
        self._asking: set[str] = set()  # groups whose bot role is being asked for

    def capabilities(self, group: str) -> frozenset[str]:
        role = self.bot_roles.get(group)
        if role is None and self.connections:
            self._learn_roles_soon([group])
        # Unknown yet: the table's; the role check before each mute or kick and the outbox's honest
        # announcements keep a failure from being told as done.
        return MEMBER_CAPABILITIES if role == "member" else CAPABILITIES[PLATFORM]

    def _learn_roles_soon(self, groups: list[str]) -> None:
        groups = [g for g in groups if g not in self._asking]
        if groups:
            self._asking.update(groups)
            task = asyncio.get_running_loop().create_task(self._learn_roles(groups))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _learn_roles(self, groups: list[str]) -> None:
        """Ask for the bot's own role in ``groups``, one after the other (a background task)."""
        try:
            for group in groups:
                try:
                    conn = self._connection_for(group)
                    info = await conn.call("get_group_member_info", group_id=_num(group), user_id=_num(conn.self_id), no_cache=True)
                except PlatformError as exc:
                    log.info("QQ: the bot's role in group %s is not known (%s)", group, exc)
                    continue
                if isinstance(info, dict) and info:
                    self.bot_roles[group] = _role(info)
        finally:
            self._asking.difference_update(groups)

    # ------------------------------------------------------------------ connecting

    def _token(self, env_name: str) -> str:
        if not env_name:
            return ""
        token = self.environ.get(env_name, "")
        if not token:
            raise AdapterStartError(f"QQ: the environment variable {env_name} (named by [qq] token_env) is not set")
        return token

    async def run(self, sink: EventSink) -> None:
        """Connect every configured forward WS and open the reverse WS server; runs until cancelled."""
        self.sink = sink
        default = self._token(self.config.token_env)
        if (rev := self.config.reverse) is not None and not default:  # every connection proves itself before it is read
            raise AdapterStartError(
                f"QQ: [qq.reverse] would take events from anyone who can reach {rev.host}:{rev.port}: set [qq] token_env "
                "to the name of an environment variable holding an access token (and give the implementation the same token)")
        starts, runners = [], []
        loop = asyncio.get_running_loop()
        for conf in self.config.forward:
            started = loop.create_future()
            token = self._token(conf.token_env) if conf.token_env else default
            runners.append(keep_forward(conf.url, token, self.seen, self.config.action_timeout, self._attach, started,
                                        self.config.max_frame_bytes))
            starts.append(started)
        if rev is not None:
            started = loop.create_future()
            runners.append(serve_reverse(rev.host, rev.port, rev.path, default, self.seen,
                                         self.config.action_timeout, self._attach, started, self.config.max_frame_bytes))
            starts.append(started)
        tasks = [asyncio.create_task(r) for r in runners]
        try:
            results = await _started(starts, tasks)
            if self.config.reverse is not None:
                self.reverse_port = results[-1]
                log.info("QQ: reverse WS listening on %s:%s%s", rev.host, self.reverse_port, rev.path)
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, *self._tasks]:
                task.cancel()

    async def _attach(self, conn: Connection) -> None:
        """Serve one connection until it closes: learn its account and groups, then read events."""
        reader = asyncio.create_task(conn.serve(self._on_event))
        try:
            if conn.self_id is None:
                conn.self_id = str((await conn.call("get_login_info"))["user_id"])
            await self._register(conn)
            await reader
        except (PlatformError, KeyError, TypeError) as exc:
            log.warning("%s: could not identify the account (%s); closing", conn, exc)
        finally:
            reader.cancel()
            await self._unregister(conn)

    async def _register(self, conn: Connection) -> None:
        async with self.changed:
            self.connections[conn.self_id] = conn
            self.changed.notify_all()
        try:
            groups = await conn.call("get_group_list") or []
        except PlatformError as exc:  # not fatal: groups are also learnt from their events
            log.warning("%s: get_group_list failed: %s", conn, exc)
            groups = []
        for group in groups:
            if isinstance(group, dict) and group.get("group_id") is not None:
                self.groups.setdefault(str(group["group_id"]), conn.self_id)
        self._learn_roles_soon([g for g, account in self.groups.items() if account == conn.self_id])
        log.info("%s connected; serves %d groups", conn, sum(1 for a in self.groups.values() if a == conn.self_id))

    async def _unregister(self, conn: Connection) -> None:
        async with self.changed:
            if self.connections.get(conn.self_id) is conn:
                del self.connections[conn.self_id]
            self.changed.notify_all()

    # ------------------------------------------------------------------ events

    async def _on_event(self, conn: Connection, raw: dict) -> None:
        if raw.get("post_type") == "meta_event":
            if raw.get("meta_event_type") == "lifecycle":
                log.info("%s: lifecycle %s", conn, raw.get("sub_type"))
            return
        if raw.get("group_id") is not None and not self._serves(conn, str(raw["group_id"])):
            return
        self._observe(raw)
        try:
            event = to_event(raw)
        except (MalformedEvent, MalformedMessage, ValidationError) as exc:
            log.warning("%s: skipped a malformed %s event: %s", conn, raw.get("post_type"), _one_line(exc))
            return
        if event is None:
            return
        if isinstance(event, JoinRequested):
            self._request_kinds[event.id] = "invite" if raw.get("sub_type") == "invite" else "add"
        await self.sink.handle_and_send(event)

    def _serves(self, conn: Connection, group: str) -> bool:
        """Whether this account serves ``group``: the first connected account to see a group keeps it,
        so a group with two of our accounts in it is not answered twice."""
        owner = self.groups.get(group)
        if owner is None or owner == conn.self_id or owner not in self.connections:
            self.groups[group] = conn.self_id
            return True
        return False

    # ------------------------------------------------------------------ actions

    def _connection_for(self, group: str) -> Connection:
        conn = self.connections.get(self.groups.get(group, ""))
        if conn is None and len(self.connections) == 1:
            conn = next(iter(self.connections.values()))
        if conn is None:
            raise PlatformError(f"no connected QQ account serves group {group}", retryable=True)
        return conn

    async def has_sent(self, group: str, text: str) -> bool | None:
        """Whether the group's latest messages hold one of the bot's own with ``text``: how a restart tells a
        post that reached the group before a crash from one that did not. Asks ``get_group_msg_history``
        (an extension NapCat, Lagrange and go-cqhttp implement); None where the implementation cannot say."""
        conn = self._connection_for(group)
        try:
            data = await conn.call("get_group_msg_history", group_id=_num(group), count=HISTORY_LOOKED_AT)
            mine = [m["message"] for m in data["messages"] if str(m.get("user_id")) == str(conn.self_id)]
            return any(read(segments_of(message)).text == text.strip() for message in mine)
        except (PlatformError, TypeError, KeyError, MalformedMessage) as exc:
            log.info("%s: cannot tell whether a message arrived (%s)", group, exc)
            return None

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:
        """A picture of a message: the implementation's download URL (from the image segment)."""
        return await download(reference, max_bytes)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Return once an account is connected (or after ``timeout``). The outbox waits on this before an
        action, so that what is due at start (committed before a restart, a scheduled post) does not fail
        its first try on a connection still being made."""
        if self.connections:
            return

        async def connected() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: self.connections)

        try:
            await asyncio.wait_for(connected(), timeout)
        except TimeoutError:
            pass

    async def perform(self, action: Action) -> None:
        conn = self._connection_for(action.group)
        group = _num(action.group)
        if isinstance(action, SendMessage):
            message = outgoing(action.text, action.mentions, action.reply_to, action.image)
            await conn.call("send_group_msg", group_id=group, message=message)
            if action.file:
                # upload_group_file is the implementations' common extension (NapCat, Lagrange, go-cqhttp); the
                # path is read by the OneBot side, so it must run on this machine (or share the folder).
                path = Path(action.file).resolve()
                await conn.call("upload_group_file", group_id=group, file=str(path), name=path.name)
        elif isinstance(action, DeleteMessage):
            await conn.call("delete_msg", message_id=_num(action.message))
        elif isinstance(action, MuteMember):
            await self._mute(conn, action)
        elif isinstance(action, MuteAll):
            await conn.call("set_group_whole_ban", group_id=group, enable=action.on)
        elif isinstance(action, KickMember):
            await self._check_punishable(conn, action.group, action.user, "kick")
            watch = self._expect(("group_decrease", action.group, action.user))
            await conn.call("set_group_kick", group_id=group, user_id=_num(action.user), reject_add_request=False)
            self._confirm(watch, f"set_group_kick of {action.user} in group {action.group}", "group_decrease")
        elif isinstance(action, SetCard):
            await conn.call("set_group_card", group_id=group, user_id=_num(action.user), card=action.card)
        elif isinstance(action, DecideJoin):
            await self._decide(conn, action)
        else:
            raise PlatformError(f"QQ adapter cannot perform {action.name}")

    async def _mute(self, conn: Connection, action: MuteMember) -> None:
        seconds = max(0, int(action.seconds))
        if seconds:  # lifting a mute punishes nobody
            await self._check_punishable(conn, action.group, action.user, "mute")
        watch = self._expect(("group_ban", action.group, action.user))
        await conn.call("set_group_ban", group_id=_num(action.group), user_id=_num(action.user), duration=seconds)
        self._confirm(watch, f"set_group_ban of {action.user} in group {action.group}", "group_ban")

    async def _decide(self, conn: Connection, action: DecideJoin) -> None:
        kind = self._request_kinds.pop(action.request, "add")
        watch = self._expect(("group_increase", action.group, action.user)) if action.approve else None
        params = dict(flag=action.request, sub_type=kind, type=kind, approve=action.approve)
        if not action.approve and action.note:
            params["reason"] = action.note
        await conn.call("set_group_add_request", **params)
        self._confirm(watch, f"set_group_add_request approving {action.user} in group {action.group}", "group_increase")

    async def _check_punishable(self, conn: Connection, group: str, user: str, verb: str) -> None:
        """Refuse (not retryable) to punish an owner or admin, or anyone the bot does not outrank,
        by the implementation's current member info rather than the possibly stale event role."""
        target = _role(await self._member(conn, group, user))
        mine = self.bot_roles[group] = _role(await self._member(conn, group, conn.self_id))
        if ROLE_RANK[target] > 0:
            raise PlatformError(f"refused to {verb} {user} in group {group}: they are {target} there")
        if ROLE_RANK[mine] <= ROLE_RANK[target]:
            raise PlatformError(f"refused to {verb} {user} in group {group}: the bot is only {mine} there")

    async def _member(self, conn: Connection, group: str, user: str) -> dict:
        """Fresh member info. Right after a join the implementation may not have it yet, so for a member seen
        joining within ``RECENT_JOIN_SECONDS`` it is asked again briefly; anyone else's refused lookup is final
        at once (they left, or never were a member): asking again would only hold up the group's queue.
        A connection that failed (retryable) is not a refusal: the outbox tries the action again later."""
        tries = self.config.member_info_tries if self._joined_recently(group, user) else 1
        problem = "no data"
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(self.config.member_info_retry_seconds)
            try:
                info = await conn.call("get_group_member_info", group_id=_num(group), user_id=_num(user), no_cache=True)
            except PlatformError as exc:
                if exc.retryable:
                    raise
                problem = str(exc)
                continue
            if isinstance(info, dict) and info:
                return info
        raise PlatformError(f"member info of {user} in group {group} unavailable (not a member?): {problem}", retryable=False)

    def _joined_recently(self, group: str, user: str) -> bool:
        joined = self._joins.get((group, user))
        return joined is not None and asyncio.get_running_loop().time() - joined < RECENT_JOIN_SECONDS

    # ------------------------------------------------------------------ follow-up notices

    def _expect(self, key: tuple) -> asyncio.Future:
        future = self._waiting[key] = asyncio.get_running_loop().create_future()
        return future

    def _observe(self, raw: dict) -> None:
        if raw.get("post_type") == "notice":
            key = (str(raw.get("notice_type")), str(raw.get("group_id")), str(raw.get("user_id")))
            if key[0] == "group_increase":
                self._joins[key[1:]] = asyncio.get_running_loop().time()
            if key[0] == "group_admin" and key[2] == str(raw.get("self_id")):  # the bot made or unmade admin
                self.bot_roles[key[1]] = "admin" if raw.get("sub_type") == "set" else "member"
            future = self._waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(raw)

    def _confirm(self, watch: asyncio.Future | None, what: str, notice: str) -> None:
        """Watch in the background for the notice that ``what`` should cause; report its absence."""
        if watch is None:
            return

        async def wait() -> None:
            try:
                await asyncio.wait_for(watch, self.config.confirm_seconds)
                log.info("QQ: %s confirmed by a %s notice", what, notice)
            except TimeoutError:
                self._waiting = {k: f for k, f in self._waiting.items() if f is not watch}
                self.unconfirmed.append(what)
                self.sink.report(f"QQ: {what} was answered ok, but no {notice} notice came within "
                                 f"{self.config.confirm_seconds:g}s; the implementation may not have acted "
                                 f"(NapCat is known to answer set_group_add_request ok without acting)")

        task = asyncio.create_task(wait())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
