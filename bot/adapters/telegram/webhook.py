"""The webhook listener: Telegram posts each update to us, with the secret we gave it in a header.

Our own small tornado handler (tornado comes with python-telegram-bot's webhook extra) rather than PTB's
Updater, so that a post is authenticated before its body is read: the ``X-Telegram-Bot-Api-Secret-Token``
header is compared (in constant time) as soon as the headers are in, and a post without the right secret
is answered 403 with nothing read or parsed. A body larger than ``max_bytes`` is refused too. An update that
is authenticated but cannot be read is answered 200 and skipped with one log line: any other answer makes
Telegram deliver the same unreadable update again and again.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Callable

from tornado.httpserver import HTTPServer
from tornado.web import Application, HTTPError, RequestHandler, stream_request_body

log = logging.getLogger(__name__)

HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What Telegram accepts as secret_token (setWebhook): 1–256 characters A-Z, a-z, 0-9, _ and -.
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_BYTES = 16 * 1024 * 1024  # Telegram's own updates are far smaller; this only bounds memory


@stream_request_body
class _Updates(RequestHandler):
    SUPPORTED_METHODS = ("POST",)

    def initialize(self, secret: str, take: Callable[[bytes, str], None], max_bytes: int) -> None:
        self.secret, self.take, self.max_bytes = secret.encode(), take, max_bytes
        self.chunks: list[bytes] = []

    def prepare(self) -> None:
        # Headers only, so far: nothing of the body has been read.
        given = self.request.headers.get(HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.secret):
            log.warning("telegram webhook: refused a post from %s: %s", self.request.remote_ip,
                        "wrong secret token" if given else "no secret token")
            raise HTTPError(403)
        self.request.connection.set_max_body_size(self.max_bytes)

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def post(self) -> None:
        self.take(b"".join(self.chunks), self.request.remote_ip or "?")
        self.set_status(200)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, HTTPError):
            return  # a refusal, already logged in prepare
        log.warning("telegram webhook: a post from %s failed: %r", self.request.remote_ip, value)


def listen(host: str, port: int, path: str, secret: str, take: Callable[[bytes, str], None],
           max_bytes: int = MAX_BYTES) -> HTTPServer:
    """Start listening on the running loop; ``take(body, peer)`` gets each authenticated body. Raises OSError
    when the address cannot be bound."""
    path = "/" + path.strip("/")
    app = Application([(re.escape(path) + "/?", _Updates, {"secret": secret, "take": take, "max_bytes": max_bytes})],
                      log_function=lambda handler: None)  # tornado's access log would name every request
    server = HTTPServer(app, max_body_size=max_bytes, idle_connection_timeout=60, body_timeout=60)
    server.listen(port, address=host)
    return server
