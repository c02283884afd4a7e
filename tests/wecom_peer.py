"""A loopback fake of WeCom for the wecom adapter, written from the official documentation
(developer.work.weixin.qq.com: 智能机器人长连接, 接收消息, 被动回复消息, 回调和回复的加解密方案, 群机器人配置说明)
and from the frame shapes of WeCom's own SDKs' type declarations, never from the adapter's code.

- ``LongConnectionServer``: aibot_subscribe (bot id + secret), ping, aibot_msg_callback out, aibot_respond_msg
  (only for request ids it issued, while young) and aibot_send_msg in, one connection per bot: a new
  subscription sends the older connection a ``disconnected_event`` and closes it.
- ``HttpSide``: the group webhooks (``/cgi-bin/webhook/send?key=``), each enforcing its limit per sliding
  window on arrival (45009 beyond it), and one-use response_urls.
- ``HttpSide.media``: a member's picture at a download URL, encrypted as 智能机器人长连接 (多媒体资源解密)
  says: AES-256-CBC, PKCS#7 padding to a multiple of 32 bytes, IV = the key's first 16 bytes, the key being
  the URL's aeskey (long connection) or the EncodingAESKey (callback mode); ``encrypt_media`` does it with
  ``cryptography``'s primitives, apart from the adapter's code.
- ``CallbackSender``: callbacks encrypted and signed with wechatpy's WeCom crypto (``wechatpy.enterprise``,
  receive id ""), URL verification, and the answers decrypted with it.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import defaultdict, deque

import base64
import os

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
import xmltodict
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

INVALID_REQ_ID = 846605
# The documents we could read name no code for "this bot may not start a message here"; the fake uses
# this one, and the adapter treats any refusal of a proactive send alike.
PROACTIVE_REFUSED = 846609


def content_of(body: dict) -> str:
    """The words of a reply or send body (stream, markdown or text)."""
    for kind in ("stream", "markdown", "text"):
        if kind in body:
            return body[kind].get("content", "")
    return ""


class LongConnectionServer:
    def __init__(self, bot_id: str, secret: str, reply_ttl: float = 300.0):
        self.bot_id, self.secret, self.reply_ttl = bot_id, secret, reply_ttl
        self.active = None  # the subscribed connection
        self.subscriptions = 0
        self.issued: dict[str, tuple[str, float]] = {}  # req_id -> (chatid, when)
        self.callbacks: list[dict] = []  # every callback frame sent, in order
        self.said: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)  # chatid -> (how, text)
        self.proactive_refused: set[str] = set()
        self.displaced: list = []
        self._ids = itertools.count(1)
        self._server = None
        self.url = ""

    async def start(self) -> str:
        self._server = await serve(self._serve, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, ws) -> None:
        try:
            first = json.loads(await ws.recv())
            req_id = first["headers"]["req_id"]
            if first.get("cmd") != "aibot_subscribe" or first["body"] != {"bot_id": self.bot_id, "secret": self.secret}:
                await ws.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 40058, "errmsg": "invalid bot id or secret"}))
                return
            await self._displace()
            self.active, self.subscriptions = ws, self.subscriptions + 1
            await ws.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"}))
            async for raw in ws:
                await ws.send(json.dumps(self._answer(json.loads(raw))))
        except ConnectionClosed:
            pass
        finally:
            if self.active is ws:
                self.active = None

    async def _displace(self) -> None:
        old = self.active
        if old is None:
            return
        event = {"cmd": "aibot_event_callback", "headers": {"req_id": f"evt_{uuid.uuid4().hex}"},
                 "body": {"msgid": uuid.uuid4().hex, "create_time": int(time.time()), "aibotid": self.bot_id,
                          "from": {"userid": ""}, "msgtype": "event", "event": {"eventtype": "disconnected_event"}}}
        self.displaced.append(old)
        try:
            await old.send(json.dumps(event))
            await old.close()
        except ConnectionClosed:
            pass

    def _answer(self, frame: dict) -> dict:
        cmd, req_id, body = frame.get("cmd"), frame["headers"]["req_id"], frame.get("body") or {}
        ok = {"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"}
        if cmd == "ping":
            return ok
        if cmd == "aibot_respond_msg":
            issued = self.issued.get(req_id)
            if issued is None or time.monotonic() - issued[1] > self.reply_ttl:
                return {**ok, "errcode": INVALID_REQ_ID, "errmsg": "invalid req_id"}
            self.said[issued[0]].append(("answer", content_of(body)))
            return ok
        if cmd == "aibot_send_msg":
            if body.get("chatid") in self.proactive_refused:
                return {**ok, "errcode": PROACTIVE_REFUSED, "errmsg": "no permission to send message to this chat"}
            self.said[body.get("chatid", "")].append(("proactive", content_of(body)))
            return ok
        return {**ok, "errcode": 40008, "errmsg": f"unknown cmd {cmd}"}

    def message(self, chatid: str, userid: str, text: str, create_time: int | None = None) -> dict:
        """A group text message body as WeCom sends it (the @mention stays in the text)."""
        return {"msgid": f"msg{next(self._ids)}_{uuid.uuid4().hex[:8]}", "aibotid": self.bot_id, "chatid": chatid,
                "chattype": "group", "from": {"userid": userid}, "create_time": create_time or int(time.time()),
                "msgtype": "text", "text": {"content": text}}

    def mixed(self, chatid: str, userid: str, text: str, images: list[dict]) -> dict:
        """A group mixed message body (words @-mentioning the bot, then pictures: {"url", "aeskey"?} each)."""
        body = self.message(chatid, userid, text)
        items = [{"msgtype": "text", "text": {"content": text}}] + [{"msgtype": "image", "image": i} for i in images]
        return {**{k: v for k, v in body.items() if k != "text"}, "msgtype": "mixed", "mixed": {"msg_item": items}}

    async def send(self, body: dict) -> dict:
        """Deliver a message body as a callback frame; returns the frame."""
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": f"req_{uuid.uuid4().hex}"}, "body": body}
        await self.deliver(frame)
        return frame

    async def say(self, chatid: str, userid: str, text: str, create_time: int | None = None) -> dict:
        """A member @-messages the bot: a callback on the subscribed connection; returns its frame."""
        req_id = f"req_{uuid.uuid4().hex}"
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": self.message(chatid, userid, text, create_time)}
        await self.deliver(frame)
        return frame

    async def deliver(self, frame: dict) -> None:
        """Send a callback frame (again, when it was sent before: WeCom re-delivering it)."""
        self.issued[frame["headers"]["req_id"]] = (frame["body"]["chatid"], time.monotonic())
        self.callbacks.append(frame)
        await self.active.send(json.dumps(frame, ensure_ascii=False))

    async def drop(self) -> None:
        """The connection breaks without a goodbye (no close frame reaches the bot)."""
        ws, self.active = self.active, None
        ws.transport.abort()


def new_media_key() -> str:
    """An aeskey as WeCom writes it: 32 random bytes in base64 without the "=" (like an EncodingAESKey)."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def encrypt_media(data: bytes, aeskey: str) -> bytes:
    """The documented scheme: key = base64 of ``aeskey``, IV = its first 16 bytes, PKCS#7 to 32-byte blocks."""
    key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
    pad = 32 - len(data) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()


class _Media(tornado.web.RequestHandler):
    def initialize(self, side: "HttpSide") -> None:
        self.side = side

    def get(self, token: str) -> None:
        body = self.side.files.get(token)
        if body is None:
            self.set_status(404)
            return
        self.side.downloads.append(token)
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(body)


class _Webhook(tornado.web.RequestHandler):
    def initialize(self, side: "HttpSide") -> None:
        self.side = side

    def post(self) -> None:
        self.finish(self.side.webhook_post(self.get_query_argument("key", ""), json.loads(self.request.body)))


class _ResponseUrl(tornado.web.RequestHandler):
    def initialize(self, side: "HttpSide") -> None:
        self.side = side

    def post(self, token: str) -> None:
        self.finish(self.side.response_post(token, json.loads(self.request.body)))


class HttpSide:
    """Group webhooks and response_urls. ``limit`` posts per ``window`` seconds per webhook, counted on arrival."""

    def __init__(self, hooks: dict[str, str], limit: int = 20, window: float = 60.0):
        self.hooks = hooks  # key -> chatid
        self.limit, self.window = limit, window
        self.arrivals: defaultdict[str, deque[float]] = defaultdict(deque)
        self.refused = 0  # posts answered 45009
        self.most_in_window = 0
        self.posted: defaultdict[str, list[dict]] = defaultdict(list)  # chatid -> accepted bodies
        self.responses: dict[str, list[dict] | None] = {}  # response_url token -> bodies, None until issued
        self.files: dict[str, bytes] = {}  # media token -> encrypted bytes
        self.downloads: list[str] = []
        self.port = 0
        self._server = None

    def media(self, data: bytes, aeskey: str) -> str:
        """A download URL for ``data`` encrypted with ``aeskey``."""
        token = uuid.uuid4().hex
        self.files[token] = encrypt_media(data, aeskey)
        return f"http://127.0.0.1:{self.port}/media/{token}"

    def start(self) -> str:
        app = tornado.web.Application([(r"/cgi-bin/webhook/send", _Webhook, {"side": self}),
                                       (r"/media/(\w+)", _Media, {"side": self}),
                                       (r"/response/(\w+)", _ResponseUrl, {"side": self})])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send"

    async def stop(self) -> None:
        self._server.stop()
        await self._server.close_all_connections()

    def webhook_post(self, key: str, body: dict) -> dict:
        if key not in self.hooks:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        now, arrivals = time.monotonic(), self.arrivals[key]
        while arrivals and now - arrivals[0] >= self.window:
            arrivals.popleft()
        if len(arrivals) >= self.limit:
            self.refused += 1
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        arrivals.append(now)
        self.most_in_window = max(self.most_in_window, len(arrivals))
        self.posted[self.hooks[key]].append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def response_url(self) -> str:
        token = uuid.uuid4().hex
        self.responses[token] = []
        return f"http://127.0.0.1:{self.port}/response/{token}"

    def response_post(self, token: str, body: dict) -> dict:
        used = self.responses.get(token)
        if used is None or used:  # unknown, or used already: one message per response_url
            return {"errcode": 846605, "errmsg": "response_url expired"}
        used.append(body)
        return {"errcode": 0, "errmsg": "ok"}


class CallbackSender:
    """WeCom's side of callback mode, with wechatpy's crypto."""

    def __init__(self, url: str, token: str, aes_key: str):
        self.url, self.token, self.aes_key = url, token, aes_key
        self.crypto = WeChatCrypto(token, aes_key, "")

    def _sealed(self, plain: str) -> tuple[dict, str]:
        nonce, timestamp = uuid.uuid4().hex[:10], str(int(time.time()))
        sealed = xmltodict.parse(self.crypto.encrypt_message(plain, nonce, timestamp))["xml"]
        query = {"msg_signature": sealed["MsgSignature"], "timestamp": sealed["TimeStamp"], "nonce": sealed["Nonce"]}
        return query, sealed["Encrypt"]

    async def verify_url(self, plain: str = "echo-1234567890") -> httpx.Response:
        echostr = PrpCrypto(self.crypto.key).encrypt(plain, "")
        echostr = echostr.decode() if isinstance(echostr, bytes) else echostr
        timestamp, nonce = str(int(time.time())), "n0nce"
        query = {"msg_signature": _get_signature(self.token, timestamp, nonce, echostr), "timestamp": timestamp,
                 "nonce": nonce, "echostr": echostr}
        async with httpx.AsyncClient() as client:
            return await client.get(self.url, params=query)

    async def post(self, body: dict, tamper: bool = False) -> tuple[int, dict | None]:
        """Post a callback; returns the HTTP status and the decrypted answer (None for an empty one)."""
        query, encrypted = self._sealed(json.dumps(body, ensure_ascii=False))
        if tamper:
            query["msg_signature"] = "0" * 40
        async with httpx.AsyncClient() as client:
            response = await client.post(self.url, params=query, json={"encrypt": encrypted}, timeout=10)
        if response.status_code != 200 or not response.content:
            return response.status_code, None
        answer = response.json()
        plain = self.crypto.decrypt_message({"Encrypt": answer["encrypt"]}, answer["msgsignature"],
                                            str(answer["timestamp"]), answer["nonce"])
        return 200, json.loads(plain)
