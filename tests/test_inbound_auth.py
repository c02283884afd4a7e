"""Every inbound transport authenticates before it reads: Telegram's webhook needs its secret (no secret, no
start), and checks the X-Telegram-Bot-Api-Secret-Token header before the body is read; QQ's reverse
WebSocket needs an access token (checked before the handshake completes, so before any frame)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import httpx
import pytest

from bot.adapters.base import AdapterStartError
from bot.adapters.qq.adapter import QQAdapter
from bot.adapters.qq.config import QQConfig, ReverseServer
from bot.adapters.telegram.adapter import TelegramAdapter
from bot.adapters.telegram.config import TelegramConfig
from bot.model import MessageReceived
from tests.conftest import ROOT
from tests.telegram_harness import TOKEN, Peer, eventually, free_port, running_bot
from tests.test_telegram import G, MEMBER, group, replies

SECRET_ENV, SECRET = "QUNBOT_TG_SECRET", "s3cret-value_42"


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


def webhook(port: int, **extra) -> dict:
    return {"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_port": port,
            "webhook_path": "hook", "webhook_secret_env": SECRET_ENV, **extra}


def test_webhook_mode_without_a_secret_refuses_to_start_and_says_how_to_set_one(tmp_path):
    environ = {"QUNBOT_TELEGRAM_TOKEN": TOKEN}
    no_key = TelegramConfig(mode="webhook", webhook_url="https://bot.example.com/hook", permissions_file=str(tmp_path / "p.json"))
    with pytest.raises(AdapterStartError, match="webhook_secret_env") as refused:
        TelegramAdapter(no_key, environ)
    assert "QUNBOT_TELEGRAM_WEBHOOK_SECRET" in str(refused.value) and "\n" not in str(refused.value)
    empty = no_key.model_copy(update={"webhook_secret_env": SECRET_ENV})
    with pytest.raises(AdapterStartError, match=f"{SECRET_ENV} .*holds no webhook secret"):
        TelegramAdapter(empty, environ)
    with pytest.raises(AdapterStartError, match="not 1-256 characters"):
        TelegramAdapter(empty, {**environ, SECRET_ENV: "has spaces and ünïcode"})
    # Polling needs no secret.
    TelegramAdapter(TelegramConfig(permissions_file=str(tmp_path / "p.json")), environ)


def test_qunbot_run_in_webhook_mode_without_a_secret_is_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'adapters = ["telegram"]\ndatabase_url = "sqlite:///{tmp_path / "q.db"}"\n'
                      '[telegram]\nmode = "webhook"\nwebhook_url = "https://bot.example.com/telegram"\n', encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "QUNBOT_TELEGRAM_TOKEN": TOKEN}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60, env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("qunbot: telegram: webhook mode needs a secret") and "webhook_secret_env" in line


async def test_webhook_posts_without_the_secret_are_refused_before_their_body_is_read(peer, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.INFO, logger="bot.adapters.telegram")
    port, seen = free_port(), []
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin, seen, telegram=webhook(port), environ={SECRET_ENV: SECRET}):
        await eventually(lambda: peer.calls("setWebhook"), "setWebhook")
        url = f"http://127.0.0.1:{port}/hook"
        forged = {"update_id": 999, "message": {"message_id": 1, "date": 1790000000, "text": "/set checkin base_points 999",
                                                "chat": {"id": G, "type": "supergroup"},
                                                "from": {"id": 1, "is_bot": False, "first_name": "forger"}}}
        async with httpx.AsyncClient(timeout=10) as client:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}):
                answer = await client.post(url, json=forged, headers=headers)
                assert answer.status_code == 403
            # Not read, so not parsed: a body that is not JSON gets no "not JSON" line, only the refusal.
            answer = await client.post(url, content=b"[" * 100_000, headers={"Content-Type": "application/json"})
            assert answer.status_code == 403
            # With the secret, an unreadable body is skipped with one line (200, or Telegram sends it forever).
            answer = await client.post(url, content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert answer.status_code == 200
        peer.say(G, MEMBER, "签到")
        [reply] = await replies(peer)
    assert "签到成功" in reply["text"]
    assert not [e for e in seen if isinstance(e, MessageReceived) and e.user == "1"]  # the forgeries never got in
    refusals = [r.getMessage() for r in caplog.records if "refused a post" in r.getMessage()]
    assert len(refusals) == 4 and "no secret token" in refusals[0] and "wrong secret token" in refusals[1]
    skipped = [r.getMessage() for r in caplog.records if "skipped a post" in r.getMessage()]
    assert len(skipped) == 1 and "not JSON" in skipped[0]


async def test_qq_reverse_without_an_access_token_refuses_to_start(make_engine):
    adapter = QQAdapter(QQConfig(reverse=ReverseServer(port=0)), {})
    with pytest.raises(AdapterStartError, match=r"\[qq.reverse\].*token_env"):
        await asyncio.wait_for(adapter.run(await make_engine()), 10)
