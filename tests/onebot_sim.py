"""A spec-strict OneBot v11 implementation side (botuniverse/onebot-11), written for these tests.

It plays NapCat's part with real side effects: integer ids, ``echo`` on every answer, 1400 for bad
parameters, 1404 for unknown actions, Bearer auth (401 / 403), the bot's own role honoured (as a plain
member it recalls only its own messages, mutes and removes nobody), and the notices a real
implementation posts (a ban produces ``group_ban`` and silences the member, a kick
``group_decrease``, an approval ``group_increase``, a recall ``group_recall``). Faults can be injected:
ok-but-no-op actions, stale roles, late member info, duplicate events, dropped connections.
Its CQ-code encoder is its own, independent of the adapter's parser.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

RANK = {"member": 0, "admin": 1, "owner": 2}


@dataclass
class Member:
    role: str = "member"
    nickname: str = ""
    card: str = ""
    muted_until: float = 0.0


@dataclass
class Faults:
    noop: set[str] = field(default_factory=set)  # actions answered ok that change nothing and post nothing
    stale_roles: dict[tuple[int, int], str] = field(default_factory=dict)  # role shown in events and cached info
    late_member_info: dict[tuple[int, int], int] = field(default_factory=dict)  # failures before info appears
    duplicate_events: bool = False  # post every event twice (LLOneBot does)
    unsupported: set[str] = field(default_factory=set)  # actions answered 1404
    # send_group_msg to these groups is received and then hangs: never performed, never answered (a
    # platform that stalls; the call dies with the connection)
    stall_groups: set[int] = field(default_factory=set)


def cq(segments: list[dict]) -> str:
    """Encode segments as a CQ-code string (OneBot v11, message/string.md)."""
    def esc(text: str, comma: bool) -> str:
        text = text.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
        return text.replace(",", "&#44;") if comma else text

    out = []
    for seg in segments:
        if seg["type"] == "text":
            out.append(esc(seg["data"]["text"], False))
        else:
            out.append("[CQ:" + seg["type"] + "".join(f",{k}={esc(str(v), True)}" for k, v in seg["data"].items()) + "]")
    return "".join(out)


class OneBotSim:
    def __init__(self, self_id: int = 10000, token: str = "", message_format: str = "array"):
        self.self_id, self.token, self.format = self_id, token, message_format
        self.groups: dict[int, dict[int, Member]] = {}
        self.whole_ban: set[int] = set()
        self.faults = Faults()
        self.calls: list[tuple[str, dict]] = []
        self.stalled: list[dict] = []  # the params of calls left hanging (Faults.stall_groups)
        self.sent: list[dict] = []  # {"group_id", "message_id", "message"} the bot sent
        self.files: list[dict] = []  # {"group_id", "name", "content"} the bot uploaded
        self.messages: dict[int, dict] = {}
        self.requests: dict[str, tuple[int, int]] = {}
        self.clients: set = set()
        self.connects = 0
        self.resend: list[dict] = []  # posted again on the next connection (a peer that re-sends)
        self._posted: list[dict] = []
        self._ids = itertools.count(5001)
        self._server = None
        self._tasks: list[asyncio.Task] = []
        self.connected = asyncio.Event()

    def add_group(self, group: int, members: dict[int, str]) -> None:
        self.groups[group] = {uid: Member(role, nickname=f"u{uid}") for uid, role in members.items()}
        self.groups[group].setdefault(self.self_id, Member("owner", nickname="bot"))

    # ------------------------------------------------------------------ transport

    async def start_forward(self) -> str:
        self._server = await serve(self._session, "127.0.0.1", 0, process_request=self._admit)
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def _admit(self, connection, request):
        if not self.token:
            return None
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        if not given:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "token required\n")
        if not hmac.compare_digest(given, self.token):
            return connection.respond(HTTPStatus.FORBIDDEN, "wrong token\n")
        return None

    async def connect_reverse(self, url: str, token: str | None = None) -> asyncio.Task:
        """Connect to the bot's reverse WS as a Universal client; raises if refused."""
        token = self.token if token is None else token
        headers = {"X-Self-ID": str(self.self_id), "X-Client-Role": "Universal"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        ws = await connect(url, additional_headers=headers)
        task = asyncio.create_task(self._session(ws))
        self._tasks.append(task)  # a task nobody references may be garbage-collected mid-run
        return task

    async def _session(self, ws) -> None:
        self.clients.add(ws)
        self.connects += 1
        try:
            await ws.send(json.dumps(self._meta("lifecycle", sub_type="connect")))
            resend, self.resend = self.resend, []
            for event in resend:
                await ws.send(json.dumps(event))
            self.connected.set()
            async for frame in ws:
                await self._frame(ws, frame)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(ws)
            if not self.clients:
                self.connected.clear()

    async def _frame(self, ws, frame) -> None:
        """Answer one action call (tests/onebot_process.py answers some late, concurrently)."""
        reply = self._answer(json.loads(frame))
        if reply is not None:  # a stalled call is never answered
            await ws.send(json.dumps(reply))

    async def drop_connections(self, resend_last: int = 0) -> None:
        """Cut every connection without a close frame; the last ``resend_last`` events are posted again
        when the bot is back, as an implementation that re-sends after a reconnection would."""
        self.resend = self._posted[-resend_last:] if resend_last else []
        for ws in list(self.clients):
            ws.transport.abort()
        self.clients.clear()
        self.connected.clear()

    async def stop(self) -> None:
        for ws in list(self.clients):
            await ws.close()
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ------------------------------------------------------------------ events

    def _meta(self, kind: str, **extra) -> dict:
        return {"time": int(time.time()), "self_id": self.self_id, "post_type": "meta_event", "meta_event_type": kind, **extra}

    async def post(self, event: dict) -> None:
        event = {"time": int(time.time()), "self_id": self.self_id, **event}
        self._posted.append(event)
        copies = 2 if self.faults.duplicate_events else 1
        for ws in list(self.clients):
            for _ in range(copies):
                await ws.send(json.dumps(event, ensure_ascii=False))

    async def send_raw(self, frame: str | bytes) -> None:
        """A frame exactly as given (text or binary), whatever it holds: for tests of hostile input."""
        for ws in list(self.clients):
            await ws.send(frame)

    async def member_says(self, group: int, user: int, segments: list[dict]) -> int | None:
        """A member sends a message; None when the member is muted (the message never exists)."""
        member = self.groups[group][user]
        now = time.time()
        if member.muted_until > now or (group in self.whole_ban and member.role == "member"):
            return None
        message_id = next(self._ids)
        self.messages[message_id] = {"group_id": group, "user_id": user, "time": int(now), "message": segments}
        role = self.faults.stale_roles.get((group, user), member.role)
        await self.post({
            "post_type": "message", "message_type": "group", "sub_type": "normal", "message_id": message_id,
            "group_id": group, "user_id": user, "anonymous": None, "font": 0,
            "message": cq(segments) if self.format == "string" else segments, "raw_message": cq(segments),
            "sender": {"user_id": user, "nickname": member.nickname, "card": member.card, "role": role},
        })
        return message_id

    async def request_join(self, group: int, user: int, comment: str) -> str:
        flag = f"flag-{next(self._ids)}"
        self.requests[flag] = (group, user)
        await self.post({"post_type": "request", "request_type": "group", "sub_type": "add",
                         "group_id": group, "user_id": user, "comment": comment, "flag": flag})
        return flag

    # ------------------------------------------------------------------ actions

    def _answer(self, call: dict) -> dict | None:
        action, params, echo = call.get("action"), call.get("params") or {}, call.get("echo")
        self.calls.append((action, params))
        if action == "send_group_msg" and params.get("group_id") in self.faults.stall_groups:
            self.stalled.append(params)
            return None
        handler = getattr(self, f"_do_{action}", None)
        if handler is None or action in self.faults.unsupported:
            reply = {"status": "failed", "retcode": 1404, "data": None}
        elif action in self.faults.noop:
            reply = {"status": "ok", "retcode": 0, "data": None}
        else:
            try:
                reply = handler(**params)
            except (TypeError, KeyError, ValueError) as exc:
                reply = {"status": "failed", "retcode": 1400, "data": None, "wording": str(exc)}
        if echo is not None:
            reply["echo"] = echo
        return reply

    @staticmethod
    def _ok(data=None) -> dict:
        return {"status": "ok", "retcode": 0, "data": data}

    @staticmethod
    def _failed(retcode: int, wording: str) -> dict:
        return {"status": "failed", "retcode": retcode, "data": None, "wording": wording}

    def _member(self, group, user) -> Member:
        if not isinstance(group, int) or not isinstance(user, int) or isinstance(group, bool):
            raise ValueError("group_id and user_id must be integers")
        return self.groups[group][user]

    def _later(self, event: dict) -> None:
        # Notices follow the answer, as they do on a real implementation.
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.post(event)))

    def _outranks(self, group: int, user: int) -> bool:
        return RANK[self.groups[group][self.self_id].role] > RANK[self.groups[group][user].role]

    def _do_get_login_info(self):
        return self._ok({"user_id": self.self_id, "nickname": "bot"})

    def _do_get_group_list(self):
        return self._ok([{"group_id": g, "group_name": f"g{g}", "member_count": len(m), "max_member_count": 500}
                         for g, m in self.groups.items()])

    def _do_get_group_member_info(self, group_id, user_id, no_cache=False):
        left = self.faults.late_member_info.get((group_id, user_id), 0)
        if left > 0:
            self.faults.late_member_info[(group_id, user_id)] = left - 1
            return self._failed(100, "member not found")
        member = self._member(group_id, user_id)
        role = member.role if no_cache else self.faults.stale_roles.get((group_id, user_id), member.role)
        return self._ok({"group_id": group_id, "user_id": user_id, "nickname": member.nickname,
                         "card": member.card, "role": role})

    def _do_send_group_msg(self, group_id, message, auto_escape=False):
        if not isinstance(group_id, int) or group_id not in self.groups:
            raise ValueError("unknown group_id")
        if not isinstance(message, (str, list)):
            raise ValueError("message must be a string or a segment list")
        message_id = next(self._ids)
        self.messages[message_id] = {"group_id": group_id, "user_id": self.self_id, "time": int(time.time()),
                                     "message": message}
        self.sent.append({"group_id": group_id, "message_id": message_id, "message": message})
        return self._ok({"message_id": message_id})

    def _do_get_group_msg_history(self, group_id, message_seq=None, count=20, reverse_order=False):
        """NapCat's extension (Lagrange and go-cqhttp have it too): the group's latest ``count`` messages, or
        those up to ``message_seq``, oldest first, each as a message event carries it; recalled ones are gone."""
        if not isinstance(group_id, int) or group_id not in self.groups:
            raise ValueError("unknown group_id")
        found = [(i, m) for i, m in self.messages.items() if m["group_id"] == group_id and (message_seq is None or i <= message_seq)]
        found = found[-int(count):]
        if reverse_order:
            found.reverse()
        return self._ok({"messages": [self._history_entry(i, m) for i, m in found]})

    def _history_entry(self, message_id: int, m: dict) -> dict:
        member = self.groups[m["group_id"]].get(m["user_id"]) or Member("member")
        # The bot sends segment arrays; a string is kept as the text it is (no CQ decoding needed here).
        segments = m["message"] if isinstance(m["message"], list) else [{"type": "text", "data": {"text": m["message"]}}]
        return {"self_id": self.self_id, "user_id": m["user_id"], "time": m["time"], "message_id": message_id,
                "real_id": message_id, "message_seq": message_id, "message_type": "group", "sub_type": "normal",
                "sender": {"user_id": m["user_id"], "nickname": member.nickname, "card": member.card, "role": member.role},
                "raw_message": cq(segments), "font": 14, "message": segments, "message_format": "array",
                "post_type": "message_sent" if m["user_id"] == self.self_id else "message", "group_id": m["group_id"]}

    def _do_upload_group_file(self, group_id, file, name, folder=None):
        if not isinstance(group_id, int) or group_id not in self.groups:
            raise ValueError("unknown group_id")
        with open(file, "rb") as uploaded:  # the implementation reads the path on its own side
            self.files.append({"group_id": group_id, "name": name, "content": uploaded.read()})
        return self._ok()

    def _do_delete_msg(self, message_id):
        if not isinstance(message_id, int) or message_id not in self.messages:
            raise ValueError("unknown message_id")
        msg = self.messages[message_id]
        # QQ lets a member recall only their own messages; another's needs a higher role than its sender's.
        members = self.groups[msg["group_id"]]
        sender = members.get(msg["user_id"])  # None: they left since (a member's rank)
        if msg["user_id"] != self.self_id and RANK[members[self.self_id].role] <= RANK[sender.role if sender else "member"]:
            return self._failed(102, "permission denied")
        del self.messages[message_id]
        self._later({"post_type": "notice", "notice_type": "group_recall", "group_id": msg["group_id"],
                     "user_id": msg["user_id"], "operator_id": self.self_id, "message_id": message_id})
        return self._ok()

    def _do_set_group_ban(self, group_id, user_id, duration=1800):
        member = self._member(group_id, user_id)
        if not isinstance(duration, int) or isinstance(duration, bool):
            raise ValueError("duration must be an integer")
        if not self._outranks(group_id, user_id):
            return self._failed(102, "permission denied")
        member.muted_until = time.time() + duration if duration else 0.0
        self._later({"post_type": "notice", "notice_type": "group_ban", "sub_type": "ban" if duration else "lift_ban",
                     "group_id": group_id, "user_id": user_id, "operator_id": self.self_id, "duration": duration})
        return self._ok()

    def _do_set_group_whole_ban(self, group_id, enable=True):
        if RANK[self._member(group_id, self.self_id).role] == 0:
            return self._failed(102, "permission denied")
        (self.whole_ban.add if enable else self.whole_ban.discard)(group_id)
        return self._ok()

    def _do_set_group_kick(self, group_id, user_id, reject_add_request=False):
        self._member(group_id, user_id)
        if not self._outranks(group_id, user_id):
            return self._failed(102, "permission denied")
        del self.groups[group_id][user_id]
        self._later({"post_type": "notice", "notice_type": "group_decrease", "sub_type": "kick",
                     "group_id": group_id, "user_id": user_id, "operator_id": self.self_id})
        return self._ok()

    def _do_set_group_card(self, group_id, user_id, card=""):
        self._member(group_id, user_id).card = card
        return self._ok()

    def _do_set_group_add_request(self, flag, approve=True, reason="", sub_type=None, type=None):
        if (sub_type or type) not in ("add", "invite"):
            raise ValueError("sub_type must be add or invite")
        group, user = self.requests.pop(flag)
        if approve:
            self.groups[group][user] = Member("member", nickname=f"u{user}")
            self._later({"post_type": "notice", "notice_type": "group_increase", "sub_type": "approve",
                         "group_id": group, "user_id": user, "operator_id": self.self_id})
        return self._ok()
