"""The webhook transport: QQ posts each event to our callback URL (interface-framework/event-emit.md).

Every post is checked against its Ed25519 signature (X-Signature-Ed25519 over X-Signature-Timestamp +
raw body) before anything else, the URL validation (op 13) included: answering op 13 signs
``event_ts + plain_token``, so answering an unsigned one would hand anyone a valid signature for a
forged post whose timestamp is event_ts and whose body is plain_token. A post that fails is answered
401 and never handled. A dispatch (op 0) is answered with op 12 (HTTP Callback ACK) once queued.
"""

from __future__ import annotations

import json
import logging
from typing import Awaitable, Callable

from aiohttp import web

from bot.adapters.base import AdapterStartError
from bot.adapters.qq_official.config import WebhookServer
from bot.adapters.qq_official.signing import Signer

log = logging.getLogger(__name__)

OnDispatch = Callable[[dict], Awaitable[None]]
MAX_BODY = 4 * 1024 * 1024


class Webhook:
    def __init__(self, config: WebhookServer, signer: Signer, on_dispatch: OnDispatch):
        self.config, self.signer, self.on_dispatch = config, signer, on_dispatch
        self.refused = 0  # posts refused for their signature (for logs and tests)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the bound port. A port that cannot be bound is an AdapterStartError."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.config.path, self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise AdapterStartError(f"QQ official: cannot listen on {self.config.host}:{self.config.port}: "
                                    f"{exc.strerror or exc}") from None
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked for
        log.info("QQ official: webhook listening on %s:%s%s", self.config.host, self.port, self.config.path)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        if not self.signer.verify(timestamp, body, request.headers.get("X-Signature-Ed25519", "")):
            self.refused += 1
            log.warning("QQ official webhook: refused a post from %s with a missing or wrong signature", request.remote)
            return web.Response(status=401, text="bad signature\n")
        try:
            payload = json.loads(body)
        except ValueError:
            return web.Response(status=400, text="not JSON\n")
        if not isinstance(payload, dict):
            return web.Response(status=400, text="not a payload\n")
        op = payload.get("op")
        if op == 13:
            data = payload.get("d") if isinstance(payload.get("d"), dict) else {}
            answer = self.signer.validation_answer(str(data.get("plain_token", "")), str(data.get("event_ts", "")))
            log.info("QQ official webhook: answered the callback URL validation")
            return web.json_response(answer)
        if op == 0:
            await self.on_dispatch(payload)
        return web.json_response({"op": 12})
