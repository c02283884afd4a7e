"""Run the real qq_official adapter inside a real engine against the loopback fake (tests/qq_official_peer.py)."""

from __future__ import annotations

import contextlib

from bot.adapters.qq_official.adapter import QQOfficialAdapter
from bot.adapters.qq_official.config import QQOfficialConfig, WebhookServer
from tests.qq_harness import serving, wait_until
from tests.qq_official_peer import QQOfficialPeer

SECRET_ENV = "QUNBOT_TEST_QQ_OFFICIAL_SECRET"
PLATFORM = "qq_official"


def config_for(peer: QQOfficialPeer, transport: str, tmp_path, **extra) -> QQOfficialConfig:
    return QQOfficialConfig(app_id=peer.app_id, secret_env=SECRET_ENV, transport=transport, base_url=peer.base,
                            token_url=peer.base + "/app/getAppAccessToken", webhook=WebhookServer(port=0),
                            state_file=str(tmp_path / "qq-official-state.json"), **extra)


@contextlib.asynccontextmanager
async def running(engine, peer: QQOfficialPeer, config: QQOfficialConfig, secret: str | None = None):
    """The adapter serving ``engine`` until the block ends; the peer delivers over the configured transport."""
    adapter = QQOfficialAdapter(config, {SECRET_ENV: peer.secret if secret is None else secret})
    async with serving(engine, adapter) as task:
        await wait_until(lambda: adapter.ready.is_set() or task.done(), "the adapter started")
        if task.done():
            task.result()  # raises the start error
        if config.transport == "webhook":
            peer.webhook_url = f"http://127.0.0.1:{adapter.webhook.port}{config.webhook.path}"
        else:
            await wait_until(lambda: peer.connected.is_set(), "the gateway session is up")
        yield adapter


def replies_to(peer: QQOfficialPeer, message_id: str) -> list[dict]:
    return [s["body"] for s in peer.sent if s["body"].get("msg_id") == message_id]


def texts_in(peer: QQOfficialPeer, group: str) -> list[str]:
    return [s["body"].get("content", "") for s in peer.sent if s["group"] == group]


async def settle(engine, adapter) -> None:
    """Let queued events and their actions go out."""
    await adapter.lanes.drain()
    await engine.outbox.drain()
