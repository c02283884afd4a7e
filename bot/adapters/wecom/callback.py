"""Callback mode: WeCom posts the AI bot's callbacks to an HTTPS address (the operator's reverse proxy
forwards it here), served with tornado.

- GET with ``msg_signature``, ``timestamp``, ``nonce``, ``echostr``: URL verification. The echostr is
  verified and decrypted, and its plaintext is the whole answer (no quotes, no newline).
- POST ``{"encrypt": …}`` with the same query: a callback. A bad signature or ciphertext is answered 403
  and never handled. The event is handled at once; the bot's replies that are ready within
  ``reply_wait_seconds`` ride in the encrypted answer (a finished stream message), later ones go through
  the callback's response_url, then the group's webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Awaitable, Callable

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.adapters.wecom.config import CallbackServer
from bot.adapters.wecom.crypto import CallbackCrypto, CryptoError

log = logging.getLogger(__name__)

# Called with a decrypted callback body; returns the texts to answer with ([] for an empty answer).
Handler = Callable[[dict], Awaitable[list[str]]]


def answer_body(texts: list[str]) -> dict:
    """The plaintext answer carrying the bot's replies: one stream message, finished at once."""
    return {"msgtype": "stream", "stream": {"id": uuid.uuid4().hex, "finish": True, "content": "\n\n".join(texts)}}


class _Endpoint(tornado.web.RequestHandler):
    def initialize(self, crypto: CallbackCrypto, handle: Handler) -> None:
        self.crypto, self.handle = crypto, handle

    def _query(self) -> tuple[str, str, str]:
        return (self.get_query_argument("msg_signature", ""), self.get_query_argument("timestamp", ""),
                self.get_query_argument("nonce", ""))

    def _refuse(self, why: str) -> None:
        log.warning("wecom: a callback request from %s refused: %s", self.request.remote_ip, why)
        self.set_status(403)
        self.finish("refused")

    def get(self) -> None:
        signature, timestamp, nonce = self._query()
        try:
            plain = self.crypto.open(signature, timestamp, nonce, self.get_query_argument("echostr", ""))
        except CryptoError as exc:
            return self._refuse(f"URL verification failed ({exc})")
        log.info("wecom: the callback URL was verified")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(plain)

    async def post(self) -> None:
        signature, timestamp, nonce = self._query()
        try:
            encrypted = json.loads(self.request.body or b"{}").get("encrypt", "")
            body = json.loads(self.crypto.open(signature, timestamp, nonce, encrypted))
        except CryptoError as exc:
            return self._refuse(str(exc))
        except (ValueError, AttributeError):
            return self._refuse("not a JSON callback")
        texts = await self.handle(body)
        if not texts:
            self.finish("")  # an empty answer: nothing to say (now)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(self.crypto.seal(json.dumps(answer_body(texts), ensure_ascii=False), timestamp, nonce)))


class CallbackListener:
    """The HTTP server for callback mode."""

    def __init__(self, config: CallbackServer, crypto: CallbackCrypto, handle: Handler):
        self.config = config
        self.app = tornado.web.Application([(config.path, _Endpoint, {"crypto": crypto, "handle": handle})])
        self.server: tornado.httpserver.HTTPServer | None = None
        self.port = config.port

    def start(self) -> None:
        sockets = tornado.netutil.bind_sockets(self.config.port, self.config.host)
        self.port = sockets[0].getsockname()[1]
        self.server = tornado.httpserver.HTTPServer(self.app, max_body_size=1 << 20)
        self.server.add_sockets(sockets)
        log.info("wecom: listening for callbacks on %s:%d%s", self.config.host, self.port, self.config.path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await asyncio.wait_for(self.server.close_all_connections(), 5)
            self.server = None
