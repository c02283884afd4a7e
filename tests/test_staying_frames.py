"""Staying power against hostile frames on every adapter's transport: nested a thousand levels deep (one
6 KB frame of that once ended `qunbot run`), far too large, not UTF-8, not JSON, odd where ids belong.
Each one is skipped with one log line, and the bot answers the next message as before.

QQ: frames from our OneBot simulator; Telegram: updates from telegram-test-api (polling) and posts to the
webhook; WeChat: events of the puppet-service gateway."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

import bot.adapters.telegram.webhook as webhook
from tests.onebot_sim import OneBotSim
from tests.qq_harness import running, wait_until
from tests.telegram_harness import Peer, eventually, free_port, running_bot
from tests.test_qq_sim import GROUP, MEMBER, OWNER, TOKEN, TOKEN_ENV, forward, replies_to, text
from tests.test_telegram import G, group, replies
from tests.test_telegram import MEMBER as TG_MEMBER
from tests.wechat_harness import MEMBER as WX_MEMBER
from tests.wechat_harness import OWNED, Gateway
from tests.wechat_harness import running_bot as wechat_bot

NESTED = '{"a":' * 1000 + "1" + "}" * 1000  # 6 KB, 1,000 levels: the frame of the report
DEEP = "[" * 100_000 + "]" * 100_000


def problems(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(logger) and r.levelno >= logging.WARNING]


# ----------------------------------------------------------------------------- QQ (OneBot v11 over WebSocket)

QQ_FRAMES = [
    NESTED,
    DEEP,
    '{"post_type":"message","message_type":"group","group_id":%d,"user_id":1,"message_id":9,"message":%s}' % (GROUP, DEEP),
    # A lone surrogate sends the frame past pydantic-core's parser to json.loads, which reads 900 levels;
    # what then stands where an id belongs cannot even be turned into text.
    '{"post_type":"notice","notice_type":"group_decrease","user_id":"\\ud800","group_id":' + "[" * 900 + "]" * 900 + "}",
    b'{"post_type":"message","raw":"\xff\xfe"}',  # binary, not UTF-8
    b"\xff" * 64,
    "1" * 5000,  # an integer Python refuses to convert
    "",
]
# Odd, but readable: an answer nobody waits for, a heartbeat with an infinite interval.
QQ_ODD = ['{"echo":' + "[" * 150 + "]" * 150 + ',"status":"ok"}',
          '{"post_type":"meta_event","meta_event_type":"heartbeat","interval":1e999}']


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(GROUP, {OWNER: "owner", MEMBER: "member"})
    yield peer
    await peer.stop()


async def test_qq_hostile_frames_are_skipped_and_the_bot_answers_after(sim, make_engine, caplog):
    engine = await make_engine()
    async with running(engine, await forward(sim, max_frame_bytes=1024 * 1024), {TOKEN_ENV: TOKEN}) as (adapter, task):
        await wait_until(lambda: adapter.connections, "connected")
        for frame in QQ_FRAMES + QQ_ODD:
            await sim.send_raw(frame)
        first = await sim.member_says(GROUP, MEMBER, text("签到"))
        await wait_until(lambda: replies_to(sim, first), "the reply after the hostile frames")
        assert not task.done()
        # Larger than max_frame_bytes: the connection is closed (1009) and made again.
        await sim.send_raw("x" * (2 * 1024 * 1024))
        await wait_until(lambda: sim.connects == 2 and adapter.connections, "reconnected after the oversized frame")
        second = await sim.member_says(GROUP, OWNER, text("签到"))
        await wait_until(lambda: replies_to(sim, second), "the reply after the oversized frame")
        assert not task.done()
    said = problems(caplog, "bot.adapters.qq")
    assert len([p for p in said if "skipped a " in p]) == len(QQ_FRAMES), said
    assert any("nested too deeply" in p for p in said) and any("message too big" in p or "exceeds limit" in p for p in said), said
    assert all("\n" not in p and len(p) < 600 for p in said), said  # one line each, never the frame itself


# ----------------------------------------------------------------------------- Telegram

@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


def tg_message(message_id: int, **extra) -> dict:
    return {"message_id": message_id, "date": int(time.time()), "chat": {"id": G, "type": "supergroup"},
            "from": {"id": 4242, "is_bot": False, "first_name": "hostile"}, **extra}


def push_raw(peer: Peer, update: str) -> None:
    """An update as JSON text (the test's own json.dumps cannot write what is nested too deeply)."""
    answer = peer.http.post("/test/update", content=('{"update": ' + update + "}").encode(),
                            headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text


async def test_telegram_hostile_updates_from_polling_are_skipped_and_the_bot_answers_after(peer, tmp_path, extra_plugin, caplog):
    group(peer)
    deep = "[" * 1200 + "]" * 1200
    message = json.dumps(tg_message(90001, text="签到"), ensure_ascii=False)[:-1]  # without its closing brace
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, adapter):
        push_raw(peer, '{"message": ' + message + ', "extra": ' + deep + "}}")
        push_raw(peer, '{"message": {"message_id": ' + deep + "}}")
        push_raw(peer, '{"message": ' + message.replace("90001", "90004") + ', "text": ' + deep + "}}")
        push_raw(peer, '{"message": ' + message.replace("90001", "90002").replace("签到", "\\ud800 lone surrogate") + "}}")
        peer.post("/test/update", update={"message": tg_message(90003, text="长" * 30_000)})
        peer.say(G, TG_MEMBER, "签到")
        reply = await eventually(lambda: [m for m in peer.sent(G) if "签到成功" in m["text"] and str(TG_MEMBER) in str(m)],
                                 "the reply after the hostile updates")
        assert reply and not peer.get("/test/pending")  # every hostile update was confirmed, none came back
    said = problems(caplog, "bot.adapters.telegram")
    assert any("nested too deeply" in p for p in said), said
    assert all("\n" not in p and len(p) < 600 for p in said), said


async def test_telegram_hostile_webhook_posts_are_skipped_and_the_bot_answers_after(peer, tmp_path, extra_plugin, caplog,
                                                                                      monkeypatch):
    monkeypatch.setattr(webhook, "MAX_BYTES", 1024 * 1024)
    port, secret = free_port(), "s3cret"
    config = {"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_port": port,
              "webhook_path": "hook", "webhook_secret_env": "QUNBOT_TG_SECRET"}
    group(peer)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with running_bot(peer, tmp_path, extra_plugin, telegram=config, environ={"QUNBOT_TG_SECRET": secret}):
        await eventually(lambda: peer.calls("setWebhook"), "setWebhook")
        url = f"http://127.0.0.1:{port}/hook"
        async with httpx.AsyncClient(timeout=10) as client:
            for body in (NESTED.encode(), DEEP.encode(), b'{"update_id": 5, "message": "\xff"}', b"\xff\xfe", b"[1, 2]",
                         b'{"update_id": Infinity}', ('{"update_id": 77, "message": ' + DEEP + "}").encode()):
                assert (await client.post(url, content=body, headers=headers)).status_code == 200
            try:
                answer = await client.post(url, content=b" " * (2 * 1024 * 1024), headers=headers)
                assert answer.status_code >= 400
            except httpx.TransportError:
                pass  # refused while still sending: the server closed the connection
        peer.say(G, TG_MEMBER, "签到")
        [reply] = await replies(peer)
    assert "签到成功" in reply["text"]
    said = problems(caplog, "bot.adapters.telegram")
    assert len([p for p in said if "skipped a post" in p]) >= 5 and any("nested too deeply" in p for p in said), said
    assert all("\n" not in p and len(p) < 600 for p in said), said


# ----------------------------------------------------------------------------- WeChat (puppet service over gRPC)

@pytest.fixture
def gateway(tmp_path):
    g = Gateway(tmp_path)
    yield g
    g.stop()


async def test_wechat_hostile_events_are_skipped_and_the_bot_answers_after(gateway, tmp_path, extra_plugin, caplog):
    deep = "[" * 1500 + "]" * 1500

    def emit(event: str, payload: str) -> None:  # JSON text: the test's json.dumps cannot nest this deep
        body = '{"event": "%s", "payload": %s}' % (event, payload)
        assert gateway.http.post("/emit", content=body.encode()).status_code == 200

    async with wechat_bot(gateway, tmp_path, extra_plugin, wechat={"reconnect_max_seconds": 1}) as (engine, adapter):
        emit("room-topic", '{"roomId": "%s", "newTopic": "x", "changerId": "%s", "deep": %s}' % (OWNED, WX_MEMBER, deep))
        emit("message", '{"messageId": %s}' % deep)
        emit("room-join", '{"roomId": %s, "inviteeIdList": [%s], "inviterId": "%s"}' % (deep, deep, WX_MEMBER))
        body = '{"room": "%s", "from": "%s", "text": "\\ud800 lone surrogate, sent as invalid UTF-8", "type": "Text", "mentions": []}'
        assert gateway.http.post("/say", content=(body % (OWNED, WX_MEMBER)).encode()).status_code == 200
        gateway.say(OWNED, WX_MEMBER, "长" * 2_000_000)
        gateway.say(OWNED, WX_MEMBER, "签到")
        await eventually(lambda: [c for c in gateway.sent(OWNED) if "签到成功" in c["text"]], "the reply after the hostile events",
                         timeout=30)
    said = problems(caplog, "bot.adapters.wechat")
    assert any("nested too deeply" in p for p in said), said
    assert all("\n" not in p and len(p) < 600 for p in said), said
