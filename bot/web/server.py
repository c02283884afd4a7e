"""Serving the console from ``qunbot run``: uvicorn inside the bot's own event loop, beside the adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from bot.web.app import build_app
from bot.web.config import WebConfig

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    # ``qunbot run`` handles the process's signals; the console stops when the bot does.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


@contextlib.asynccontextmanager
async def console_served(engine, config: WebConfig, environ: dict[str, str] | None = None):
    """Serve the console while the block runs; yields its address (``http://host:port``, the real port where
    config says 0)."""
    server = _Server(uvicorn.Config(build_app(engine, config, environ), host=config.listen, port=config.port,
                                    log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the port was taken, say: fail loudly, not silently without a console
                raise RuntimeError("the web console stopped before it started")
            await asyncio.sleep(0.02)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        log.info("web console on http://%s:%s", host, port)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
