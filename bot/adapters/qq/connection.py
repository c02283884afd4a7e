"""One WebSocket to one OneBot v11 implementation (one QQ account), in either direction.

Forward WS: we connect to the implementation and reconnect with backoff. Reverse WS: implementations
connect to our server, naming their account in ``X-Self-ID``. Either way the socket is "Universal": it
carries events to us and our action calls to it, each call matched to its answer by ``echo``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.adapters.base import AdapterStartError, MaybeDelivered, PlatformError
from bot.adapters.lanes import Seen
from bot.adapters.wire import excerpt
from bot.adapters.qq.events import decode, dedupe_key

log = logging.getLogger(__name__)

EventHandler = Callable[["Connection", dict], Awaitable[None]]
# Capped low so that a peer back after a long outage is found within seconds (one try every 10 s meanwhile).
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0
# A frame larger than this closes the connection (WebSocket 1009; forward connections reconnect, reverse
# ones are reconnected by the implementation). [qq] max_frame_bytes sets it.
MAX_FRAME_BYTES = 64 * 1024 * 1024
# Spec-defined retcodes (OneBot v11, api/README.md); the rest are the implementation's own.
RETCODES = {1400: "bad request (1400)", 1401: "unauthorized (1401)", 1403: "forbidden (1403)",
            1404: "action not supported by this implementation (1404)"}


def answer_data(action: str, reply: dict) -> Any:
    """The ``data`` of a successful answer; a failure becomes a PlatformError with a clear message."""
    status, retcode = reply.get("status"), reply.get("retcode")
    if status in ("ok", "async") or (status is None and retcode in (0, 1)):
        return reply.get("data")
    said = reply.get("wording") or reply.get("message") or reply.get("msg") or ""
    what = RETCODES.get(retcode, f"status {status!r}, retcode {retcode!r}")
    raise PlatformError(f"{action} failed: {what}" + (f": {said}" if said else ""), retryable=False)


class Connection:
    def __init__(self, ws, seen: Seen, timeout: float, self_id: str | None = None, label: str = ""):
        self.ws = ws
        self.seen = seen
        self.timeout = timeout
        self.self_id = self_id
        self.label = label
        self.duplicates = 0
        self._echoes = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}
        self._silence: float | None = None  # seconds without a frame after which the peer counts as gone

    def __repr__(self) -> str:
        return f"QQ account {self.self_id or '?'} ({self.label})"

    async def call(self, action: str, **params) -> Any:
        """Send one action and wait (up to the timeout) for the answer with the same echo."""
        echo = f"qunbot-{next(self._echoes)}"
        future = asyncio.get_running_loop().create_future()
        self._pending[echo] = future
        try:
            try:
                await self.ws.send(json.dumps({"action": action, "params": params, "echo": echo}, ensure_ascii=False))
            except ConnectionClosed:  # it never left: safe to try again, on this account's next connection
                raise PlatformError(f"{action}: connection to {self} closed", retryable=True) from None
            try:
                reply = await asyncio.wait_for(future, self.timeout)
            except TimeoutError:
                raise MaybeDelivered(f"{action}: no answer from {self} within {self.timeout:g}s") from None
        finally:
            self._pending.pop(echo, None)
        return answer_data(action, reply)

    async def serve(self, on_event: EventHandler) -> None:
        """Read frames until the socket closes: answers go to their callers, new events to ``on_event``
        in arrival order (in a task of their own, so a handler may call actions on this socket)."""
        queue: asyncio.Queue[dict] = asyncio.Queue()
        worker = asyncio.create_task(self._work(queue, on_event), name=f"qq events {self.label}")
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), self._silence)
                self._take(frame, queue)
        except TimeoutError:
            log.warning("%s: no heartbeat for %.0fs; reconnecting", self, self._silence)
        except ConnectionClosed as exc:
            # A frame over the size limit is closed by our side (1009, "message too big"): say so.
            why = exc.rcvd.reason if exc.rcvd else f"we closed it: {exc.sent.reason}" if exc.sent and exc.sent.reason else "no close frame"
            log.warning("%s: connection closed (%s)", self, why)
        finally:
            for future in self._pending.values():
                if not future.done():  # sent, unanswered: the implementation may have carried it out
                    future.set_exception(MaybeDelivered(f"connection to {self} closed before the answer"))
            await queue.join()  # events already received are still handled; the adapter dedupes re-sends
            worker.cancel()
            await self.ws.close()

    def _take(self, frame, queue: asyncio.Queue) -> None:
        """One frame, whatever it holds: a frame that cannot be read or used is skipped with one log line,
        and the read loop goes on (a RecursionError from a deeply nested frame once ended ``qunbot run``)."""
        try:
            data = decode(frame)
        except RecursionError:
            log.warning("%s: skipped a frame nested too deeply to read: %s", self, excerpt(frame))
            return
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an over-long integer …
            log.warning("%s: skipped a frame that is not JSON (%s): %s", self, _short(exc), excerpt(frame))
            return
        if not isinstance(data, dict):
            log.warning("%s: skipped a frame that is not an object: %s", self, excerpt(frame))
            return
        try:
            self._route(data, queue)
        except (RecursionError, TypeError, ValueError) as exc:  # deep or odd values where ids belong
            log.warning("%s: skipped a frame that cannot be used (%s): %s", self, _short(exc), excerpt(frame))

    def _route(self, data: dict, queue: asyncio.Queue) -> None:
        if "post_type" not in data:
            future = self._pending.get(str(data.get("echo")))
            if future is not None and not future.done():
                future.set_result(data)
            else:
                log.info("%s: an answer nobody waits for (late, after a timeout?): echo %r", self, data.get("echo"))
            return
        if data.get("meta_event_type") == "heartbeat" and isinstance(data.get("interval"), int) and data["interval"] > 0:
            self._silence = 3 * data["interval"] / 1000  # three missed heartbeats: the peer is gone
        key = dedupe_key(data)
        if key is not None and not self.seen.first_time(key):
            self.duplicates += 1
            log.debug("%s: duplicate event skipped: %r", self, key)
            return
        queue.put_nowait(data)

    async def _work(self, queue: asyncio.Queue, on_event: EventHandler) -> None:
        while True:
            data = await queue.get()
            try:
                await on_event(self, data)
            except Exception:  # one bad event must not stop the account's event stream
                log.exception("%s: handling a %s event failed", self, data.get("post_type"))
            finally:
                queue.task_done()
            # A turn of the loop between events, even when more are queued: what the last one set going
            # (its commit, its actions' delivery) runs now, not after the whole burst.
            await asyncio.sleep(0)


Attach = Callable[[Connection], Awaitable[None]]


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def keep_forward(url: str, token: str, seen: Seen, timeout: float, attach: Attach, started: asyncio.Future,
                       max_frame: int = MAX_FRAME_BYTES) -> None:
    """Stay connected to one implementation's WebSocket server, reconnecting with backoff. The first
    attempt settles ``started``: an AdapterStartError when the server is unreachable or refuses the token."""
    delay = FIRST_BACKOFF
    while True:
        try:
            async with connect(url, additional_headers=_headers(token), open_timeout=timeout, max_size=max_frame) as ws:
                if not started.done():
                    started.set_result(None)
                delay = FIRST_BACKOFF
                await attach(Connection(ws, seen, timeout, label=url))
        except (OSError, InvalidStatus, TimeoutError, ConnectionClosed) as exc:
            problem = _describe(exc)
            if not started.done():
                started.set_exception(AdapterStartError(f"QQ: cannot connect to {url}: {problem}"))
                return
            log.warning("QQ: connection to %s lost or refused (%s); retrying in %.1fs", url, problem, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)


def _describe(exc: Exception) -> str:
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        return f"HTTP {code}" + (" (wrong or missing access token)" if code in (401, 403) else "")
    return str(exc) or type(exc).__name__


def check_token(token: str, headers, path: str) -> HTTPStatus | None:
    """401 without a token, 403 with a wrong one (OneBot v11, communication/authorization.md)."""
    if not token:
        return None
    given = headers.get("Authorization", "")
    if given.lower().startswith(("bearer ", "token ")):
        given = given.split(" ", 1)[1].strip()
    else:
        given = parse_qs(urlsplit(path).query).get("access_token", [""])[0]
    if not given:
        return HTTPStatus.UNAUTHORIZED
    return None if hmac.compare_digest(given.encode(), token.encode()) else HTTPStatus.FORBIDDEN


async def serve_reverse(host: str, port: int, path: str, token: str, seen: Seen, timeout: float,
                        attach: Attach, started: asyncio.Future, max_frame: int = MAX_FRAME_BYTES) -> None:
    """Accept implementations connecting to us (reverse WS); ``started`` gets the bound port."""

    def admit(connection, request):
        refusal = _refusal(request, path, token)
        if refusal is not None:
            status, why = refusal
            log.warning("QQ reverse WS: refused a connection from %s: %s", connection.remote_address, why)
            return connection.respond(status, why + "\n")
        return None

    async def handle(ws):
        await attach(Connection(ws, seen, timeout, self_id=ws.request.headers["X-Self-ID"], label="reverse"))

    try:
        server = await serve(handle, host, port, process_request=admit, max_size=max_frame)
    except OSError as exc:
        started.set_exception(AdapterStartError(f"QQ: cannot listen on {host}:{port}: {exc.strerror or exc}"))
        return
    async with server:
        started.set_result(server.sockets[0].getsockname()[1])
        await server.serve_forever()


def _refusal(request, path: str, token: str) -> tuple[HTTPStatus, str] | None:
    if urlsplit(request.path).path.rstrip("/") != path.rstrip("/"):
        return HTTPStatus.NOT_FOUND, f"no OneBot endpoint at {urlsplit(request.path).path}"
    status = check_token(token, request.headers, request.path)
    if status is not None:
        return status, "missing access token" if status == HTTPStatus.UNAUTHORIZED else "wrong access token"
    if request.headers.get("X-Client-Role", "Universal").lower() != "universal":
        return HTTPStatus.BAD_REQUEST, "only X-Client-Role: Universal is supported"
    if not request.headers.get("X-Self-ID", "").strip():
        return HTTPStatus.BAD_REQUEST, "X-Self-ID header missing"
    return None
