"""A loopback fake of the QQ Bot API v2 (QQ 开放平台), written from the official documentation
(tencent-connect/bot-docs: interface-framework/api-use.md, event-emit.md, sign.md, error-trace/*,
send-receive/send.md, rich-media.md, reset.md) and, for the 2026 group-management endpoints the repository
does not describe, from the bot.q.qq.com wiki as other implementations quote it. It imports nothing of
bot/adapters/qq_official: signatures are made here with ``cryptography`` directly, ids and rules are its own.

It serves: the token endpoint; /gateway and a WebSocket gateway (Hello, Identify, heartbeats, Resume with a
replay of missed dispatches, forced drops); the group OpenAPI the adapter calls, recording every call and
keeping real state (messages and their reply windows, recalls, mutes, removals, join requests, bot state);
and a webhook sender that signs each post with the bot's Ed25519 key.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GROUP_AND_C2C = 1 << 25
REPLY_WINDOW = 300.0  # send.md: a group message may be answered for 5 minutes …
REPLIES_PER_MESSAGE = 5  # … at most 5 times


def ed25519_key(secret: str) -> Ed25519PrivateKey:
    """sign.md: repeat the secret until it fills the 32-byte seed, and cut it there."""
    seed = secret
    while len(seed) < 32:
        seed = seed * 2
    return Ed25519PrivateKey.from_private_bytes(seed[:32].encode())


def sign(secret: str, message: bytes) -> str:
    return ed25519_key(secret).sign(message).hex()


@dataclass
class Msg:
    group: str
    author: str  # member openid, or "bot"
    at: float
    replies: set = field(default_factory=set)  # msg_seq values used


@dataclass
class Group:
    openid: str
    roles: dict  # member openid -> owner | admin | member
    names: dict = field(default_factory=dict)
    bot_role: str = "member"
    receive_all: bool = True  # recv_msg_setting "all" (else "only_mention")
    proactive: bool = False  # allow_proactive_msg
    muted: dict = field(default_factory=dict)  # member -> mute end (aware datetime)
    removed: set = field(default_factory=set)
    blacklist: set = field(default_factory=set)
    requests: dict = field(default_factory=dict)  # join_request_id -> {member, answer, state, reason}
    recalled: list = field(default_factory=list)


class ApiRefusal(Exception):
    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class QQOfficialPeer:
    def __init__(self, app_id: str = "102000001", secret: str = "DG5g3B4j9X2KOErG", token_ttl: int = 7200):
        self.app_id, self.secret, self.token_ttl = app_id, secret, token_ttl
        self.bot_openid = "BOT" + secrets.token_hex(8).upper()
        self.groups: dict[str, Group] = {}
        self.messages: dict[str, Msg] = {}
        self.sent: list[dict] = []  # every message the bot posted: {"group", "body", "id"}
        self.calls: list[tuple[str, str, dict | None]] = []  # (method, path, json) of every OpenAPI call
        self.tokens: dict[str, float] = {}  # valid token -> expiry (monotonic)
        self.token_requests = 0
        self.files: dict[str, int] = {}  # file_info -> bytes received
        self.events: list[dict] = []  # every dispatch, with its sequence number
        self._ids = itertools.count(1)
        self.identifies = self.resumes = self.heartbeats = 0
        self.sessions: dict[str, int] = {}  # session id -> intents
        self.ws: web.WebSocketResponse | None = None
        self.replay_overlap = 0  # on Resume, also re-send this many dispatches the client already had
        self.webhook_url: str | None = None  # set: dispatches are posted there instead of the gateway
        self.webhook_answers: list[tuple[int, str]] = []
        self._runner: web.AppRunner | None = None
        self.base = ""
        self.connected = asyncio.Event()

    # ------------------------------------------------------------------ setup

    def add_group(self, roles: dict[str, str], bot_role: str = "member", receive_all: bool = True,
                  proactive: bool = False) -> str:
        openid = "G" + secrets.token_hex(8).upper()
        self.groups[openid] = Group(openid, dict(roles), {m: f"成员{m[-3:]}" for m in roles}, bot_role, receive_all, proactive)
        return openid

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/app/getAppAccessToken", self._token)
        app.router.add_get("/gateway", self._guard(self._gateway_url))
        app.router.add_get("/websocket", self._websocket)
        app.router.add_route("*", "/v2/groups/{group}/{rest:.*}", self._guard(self._group_api))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base

    async def stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ the token (api-use.md)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.json()
        if body.get("appId") != self.app_id or body.get("clientSecret") != self.secret:
            return web.json_response({"code": 100016, "message": "invalid appid or secret"})  # HTTP 200, as QQ does
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_ttl
        return web.json_response({"access_token": token, "expires_in": str(self.token_ttl)})

    def _authorised(self, header: str) -> bool:
        if not header.startswith("QQBot "):
            return False
        expiry = self.tokens.get(header[len("QQBot "):])
        return expiry is not None and time.monotonic() < expiry

    def _guard(self, handler):
        async def guarded(request: web.Request) -> web.Response:
            body = await request.json() if request.can_read_body else None
            self.calls.append((request.method, request.path, body))
            if not self._authorised(request.headers.get("Authorization", "")):
                return web.json_response({"code": 11243, "message": "check token not pass"}, status=401)
            try:
                return web.json_response(await handler(request, body))
            except ApiRefusal as refusal:
                return web.json_response({"code": refusal.code, "message": refusal.message}, status=refusal.status)
        return guarded

    # ------------------------------------------------------------------ the gateway (event-emit.md)

    async def _gateway_url(self, request, body) -> dict:
        return {"url": self.base.replace("http://", "ws://") + "/websocket"}

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 30000}})
        first = await ws.receive_json()
        if not await self._login(ws, first):
            await ws.close(code=4006, message=b"invalid session")
            return ws
        self.ws = ws
        self.connected.set()
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            if payload.get("op") == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11})
        if self.ws is ws:
            self.ws = None
            self.connected.clear()
        return ws

    async def _login(self, ws, payload: dict) -> bool:
        data = payload.get("d") or {}
        if not self._authorised(str(data.get("token", ""))):
            return False
        if payload.get("op") == 2:
            if not int(data.get("intents", 0)) & GROUP_AND_C2C:
                await ws.close(code=4014, message=b"intent no permission")
                return False
            self.identifies += 1
            session = secrets.token_hex(8)
            self.sessions[session] = int(data["intents"])
            await ws.send_json({"op": 0, "s": self._seq(), "t": "READY",
                                "d": {"version": 1, "session_id": session, "shard": [0, 1],
                                      "user": {"id": self.bot_openid, "username": "测试机器人", "bot": True}}})
            return True
        if payload.get("op") == 6 and data.get("session_id") in self.sessions:
            self.resumes += 1
            after = int(data.get("seq") or 0) - self.replay_overlap
            for event in self.events:
                if event["s"] > after and event["t"] not in ("READY", "RESUMED"):
                    await ws.send_json(event)
            await ws.send_json({"op": 0, "s": self._seq(), "t": "RESUMED", "d": ""})
            return True
        await ws.send_json({"op": 9, "d": False})
        return False

    def _seq(self) -> int:
        return next(self._ids)

    async def drop(self) -> None:
        """Cut the gateway connection as a network failure would (the client should resume)."""
        if self.ws is not None:
            ws, self.ws = self.ws, None
            self.connected.clear()
            await ws.close(code=4009, message=b"session timed out")

    async def send_op(self, op: int, data=None) -> None:
        """Send a bare opcode on the live connection: 7 (Reconnect) or 9 (Invalid Session)."""
        if op == 9:
            self.sessions.clear()  # the session is gone: only a new Identify brings events again
        if self.ws is not None:
            await self.ws.send_json({"op": op, "d": data})

    # ------------------------------------------------------------------ dispatching events

    async def dispatch(self, kind: str, data: dict) -> None:
        event = {"op": 0, "s": self._seq(), "t": kind, "id": f"{kind}:{secrets.token_hex(6)}", "d": data}
        self.events.append(event)
        if self.webhook_url is not None:
            status, text = await self.post_webhook(event)
            self.webhook_answers.append((status, text))
        elif self.ws is not None:
            await self.ws.send_json(event)

    async def post_webhook(self, payload: dict, signature: str | None = None, timestamp: str | None = None) -> tuple[int, str]:
        """POST ``payload`` to the webhook as QQ does: headers X-Signature-Timestamp and X-Signature-Ed25519
        (the bot key's signature of timestamp + body); ``signature`` overrides it (to forge one)."""
        body = json.dumps({k: v for k, v in payload.items() if k != "s"}, ensure_ascii=False).encode()
        stamp = timestamp or str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "QQBot-Callback", "X-Bot-Appid": self.app_id,
                   "X-Signature-Timestamp": stamp,
                   "X-Signature-Ed25519": signature if signature is not None else sign(self.secret, stamp.encode() + body)}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook_url, data=body, headers=headers) as response:
                return response.status, await response.text()

    async def member_says(self, group: str, member: str, text: str, at_bot: bool = False, image: bool = False) -> str | None:
        """A member's message; None where QQ would not deliver it to the bot (muted, not @ in an @-only group)."""
        g = self.groups[group]
        if member in g.removed or (g.muted.get(member) and g.muted[member] > datetime.now(timezone.utc)):
            return None
        msg_id = f"ROBOT1.0_{secrets.token_urlsafe(12)}"
        self.messages[msg_id] = Msg(group, member, time.monotonic())
        data = {"id": msg_id, "content": text, "group_openid": group,
                "timestamp": datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="seconds"),
                "author": {"member_openid": member, "member_role": g.roles.get(member, "member"),
                           "username": g.names.get(member, "")}}
        if image:
            data["attachments"] = [{"content_type": "image/png", "url": "https://multimedia.nt.qq.com/x.png",
                                    "filename": "x.png", "width": 10, "height": 10, "size": 100}]
        if g.receive_all:
            await self.dispatch("GROUP_MESSAGE_CREATE", data)
        if at_bot:
            await self.dispatch("GROUP_AT_MESSAGE_CREATE", data)
        return msg_id if (g.receive_all or at_bot) else None

    async def request_join(self, group: str, member: str, answer: str) -> str:
        request_id = secrets.token_hex(10)
        self.groups[group].requests[request_id] = {"member": member, "answer": answer, "state": "pending"}
        await self.dispatch("GROUP_JOIN_REQUEST", {
            "group_openid": group, "join_request_id": request_id, "member_openid": member, "username": "申请人",
            "apply_source": "self_apply", "apply_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "verify_info": {"method": "question", "verify_message": "",
                            "review_qa_list": [{"question": "从哪里知道本群？", "answer": answer}]}})
        return request_id

    # ------------------------------------------------------------------ the group OpenAPI

    async def _group_api(self, request: web.Request, body: dict | None) -> dict:
        group = self.groups.get(request.match_info["group"])
        if group is None:
            raise ApiRefusal(1100301, "调用方不是群成员")
        parts, method = request.match_info["rest"].split("/"), request.method
        route = {("GET", "bot_state"): self._bot_state, ("POST", "messages"): self._post_message,
                 ("DELETE", "messages"): self._recall, ("POST", "files"): self._upload,
                 ("POST", "restrict_chat_setting"): self._mute, ("POST", "batch_remove_members"): self._remove,
                 ("POST", "approval_join_request"): self._approve}.get((method, parts[0]))
        if route is None:
            raise ApiRefusal(404, "no such endpoint", 404)
        return await route(group, body or {}, parts[1:])

    async def _bot_state(self, g: Group, body, rest) -> dict:
        return {"member_openid": self.bot_openid, "joined_at": "2026-06-01T10:00:00+08:00", "member_role": g.bot_role,
                "allow_proactive_msg": g.proactive, "recv_msg_setting": "all" if g.receive_all else "only_mention"}

    async def _post_message(self, g: Group, body: dict, rest) -> dict:
        if body.get("msg_type") == 7 and (body.get("media") or {}).get("file_info") not in self.files:
            raise ApiRefusal(304083, "convert media info fail")
        if body.get("msg_id"):
            msg = self.messages.get(body["msg_id"])
            if msg is None or msg.group != g.openid:
                raise ApiRefusal(304026, "MSG_ID 回复的消息 id 错误")
            if time.monotonic() - msg.at > REPLY_WINDOW:
                raise ApiRefusal(304027, "MSG_EXPIRE 回复的消息过期")
            seq = int(body.get("msg_seq") or 1)
            if seq in msg.replies:
                raise ApiRefusal(40054005, "消息被去重，请检查请求msgseq")
            if len(msg.replies) >= REPLIES_PER_MESSAGE:
                raise ApiRefusal(22009, "msg limit exceed")
            msg.replies.add(seq)
        elif body.get("event_id"):
            if not any(e["id"] == body["event_id"] for e in self.events):
                raise ApiRefusal(304026, "event id 错误")
        elif not g.proactive:
            raise ApiRefusal(304046, "不允许在此群发主动消息")
        msg_id = f"BOTMSG_{secrets.token_hex(6)}"
        self.messages[msg_id] = Msg(g.openid, "bot", time.monotonic())
        self.sent.append({"group": g.openid, "body": body, "id": msg_id})
        return {"id": msg_id, "timestamp": int(time.time())}

    async def _upload(self, g: Group, body: dict, rest) -> dict:
        data = base64.b64decode(body.get("file_data") or "") if body.get("file_data") else b""
        if body.get("file_type") != 1 or not (data or body.get("url")):
            raise ApiRefusal(304082, "upload media info fail")
        info = secrets.token_urlsafe(16)
        self.files[info] = len(data)
        return {"file_uuid": secrets.token_hex(8), "file_info": info, "ttl": 3600}

    def _admin(self, g: Group) -> None:
        if g.bot_role not in ("owner", "admin"):
            raise ApiRefusal(11282, "ErrorCheckAdminNotPass")

    async def _recall(self, g: Group, body, rest) -> dict:
        msg = self.messages.get(rest[0]) if rest else None
        if msg is None or msg.group != g.openid:
            raise ApiRefusal(306002, "msgid error")
        if msg.author != "bot":
            self._admin(g)
            if g.roles.get(msg.author) in ("owner", "admin"):
                raise ApiRefusal(306004, "no permission to delete message")
        elif time.monotonic() - msg.at > 120:
            raise ApiRefusal(306011, "超出可撤回消息时间")
        g.recalled.append(rest[0])
        return {}

    def _punishable(self, g: Group, member: str) -> None:
        self._admin(g)
        if g.roles.get(member) != "member":
            raise ApiRefusal(11282, "只能操作普通成员")

    async def _mute(self, g: Group, body: dict, rest) -> dict:
        for entry in body.get("members") or []:
            member = entry["member_openid"]
            self._punishable(g, member)
            if entry.get("op") == "del":
                g.muted.pop(member, None)
                continue
            until = datetime.fromisoformat(entry["mute_expire_at"])
            if until - datetime.now(timezone.utc) > timedelta(days=30, minutes=1):
                raise ApiRefusal(502005, "timestamp 不合法")
            g.muted[member] = until
        return {}

    async def _remove(self, g: Group, body: dict, rest) -> dict:
        for member in body.get("member_openids") or []:
            self._punishable(g, member)
            g.removed.add(member)
            g.roles.pop(member, None)
            if body.get("add_to_member_blacklist"):
                g.blacklist.add(member)
        return {"remove_members_result": "success", "add_to_member_blacklist_fail_openids": []}

    async def _approve(self, g: Group, body: dict, rest) -> dict:
        self._admin(g)
        request = g.requests.get(body.get("join_request_id", ""))
        if request is None or not rest or request["member"] != rest[0] or request["state"] != "pending":
            raise ApiRefusal(11004, "无效或已过期的审批令牌")
        request["state"] = "approved" if body.get("op") == "approve" else "declined"
        request["reason"] = body.get("reject_reason", "")
        if request["state"] == "approved":
            g.roles[rest[0]] = "member"
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.dispatch(
                "GROUP_MEMBER_ADD", {"group_openid": g.openid, "member_openid": rest[0], "timestamp": int(time.time())})))
        return {}
