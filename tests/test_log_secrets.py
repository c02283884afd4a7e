"""Secrets never reach the log: `qunbot run --log-level DEBUG` serving QQ (our OneBot simulator, Bearer
token) and Telegram (telegram-test-api, webhook mode with its secret) at once, with traffic on both; the
whole output is searched for the QQ token, the bot token and the webhook secret, plain and URL-encoded.
python-telegram-bot, httpx and websockets all write them into their DEBUG lines."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from urllib.parse import quote

import httpx

from bot import redact
from tests.conftest import ROOT
from tests.onebot_sim import OneBotSim
from tests.qq_harness import segment, texts_of, wait_until
from tests.telegram_harness import TOKEN as TG_TOKEN
from tests.telegram_harness import Peer, free_port
from tests.test_telegram import G, MEMBER, group

QQ_TOKEN, WEBHOOK_SECRET = "qq-access-token-7f3e9a", "webhook-secret-c41d77"
GROUP, QQ_MEMBER = 800001, 2001


async def test_no_secret_in_any_log_line_at_debug(tmp_path):
    sim = OneBotSim(token=QQ_TOKEN)
    sim.add_group(GROUP, {1001: "owner", QQ_MEMBER: "member"})
    peer = Peer()
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'adapters = ["qq", "telegram"]\ndatabase_url = "sqlite:///{tmp_path / "bot.db"}"\n'
        f'[qq]\ntoken_env = "QUNBOT_QQ_TOKEN"\n[[qq.forward]]\nurl = "{await sim.start_forward()}"\n'
        f'[telegram]\nbase_url = "{peer.url}/bot"\nmode = "webhook"\nwebhook_url = "http://127.0.0.1:{port}/hook"\n'
        f'webhook_port = {port}\nwebhook_path = "hook"\nwebhook_secret_env = "QUNBOT_TELEGRAM_WEBHOOK_SECRET"\n'
        f'permissions_file = "{tmp_path / "perms.json"}"\n', encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "QUNBOT_QQ_TOKEN": QQ_TOKEN,
           "QUNBOT_TELEGRAM_TOKEN": TG_TOKEN, "QUNBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "--config", str(config),
                                                    "--log-level", "debug", cwd=tmp_path, stdout=out, stderr=out, env=env)
    try:
        group(peer)
        await wait_until(lambda: sim.clients and peer.calls("setWebhook") or proc.returncode is not None, "both adapters up")
        assert proc.returncode is None, log.read_text(encoding="utf-8")[-3000:]
        asked = await sim.member_says(GROUP, QQ_MEMBER, [{"type": "text", "data": {"text": "签到"}}])
        await wait_until(lambda: [s for s in sim.sent if "签到成功" in texts_of(s["message"])], "the QQ reply")
        peer.say(G, MEMBER, "签到")
        await wait_until(lambda: [m for m in peer.sent(G) if "签到成功" in m["text"]], "the Telegram reply")
        async with httpx.AsyncClient() as client:  # a forged post: its refusal is logged, the secret is not
            await client.post(f"http://127.0.0.1:{port}/hook", json={"update_id": 1},
                              headers={"X-Telegram-Bot-Api-Secret-Token": "forged"})
        assert segment(sim.sent[0]["message"], "reply") == {"id": str(asked)}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
        peer.stop()
        await sim.stop()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert " DEBUG " in text and "refused a post" in text  # it did log, at DEBUG
    assert redact.MASK in text  # and the libraries did try to write a secret
    for secret in (QQ_TOKEN, TG_TOKEN, WEBHOOK_SECRET):
        for form in {secret, quote(secret, safe=""), secret.split(":")[-1]}:
            assert form not in text, f"{form!r} in the log"


def test_the_filter_masks_arguments_tracebacks_and_every_logger(caplog):
    redactor = redact.Redactor(["s3cret-token", "pw-9f"])
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "GET %s?access_token=%s", ("/bots3cret-token/x", "s3cret-token"), None)
    try:
        raise ValueError("failed with pw-9f in it")
    except ValueError:
        record.exc_info = sys.exc_info()
    redactor.filter(record)
    formatted = logging.Formatter().format(record)
    assert "s3cret" not in formatted and "pw-9f" not in formatted and formatted.count("***") == 4
    assert redact.Redactor(["ab"]).redact("ab cab") == "ab cab"  # too short to mask (qunbot run warns)
