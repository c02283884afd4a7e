"""The wecom adapter in a real engine against the loopback WeCom fake (tests/wecom_peer.py): the long
connection (answers in the right group, check-in twice, /top, an idiom chain by @-moves, a dropped
connection, displacement), a scheduled post through the webhook where the AI bot may not start one,
callback mode with wechatpy's crypto, and the webhook's rate limit under a burst."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from bot.adapters.base import AdapterStartError
from bot.adapters.wecom.adapter import WecomAdapter
from bot.adapters.wecom.config import CallbackServer, WecomConfig
from bot.config import OutboxLimits, QunbotConfig
from bot.model import SendMessage
from tests.conftest import at
from tests.qq_harness import GUARD_SECONDS, record_events, serving, wait_until
from bot.idioms import book
from tests.wecom_peer import CallbackSender, HttpSide, LongConnectionServer

BOT_ID, SECRET, SECRET_ENV, HOOK_ENV = "aibot-qunbot", "s3cret", "QUNBOT_TEST_WECOM_SECRET", "QUNBOT_TEST_WECOM_HOOK"
G1, G2, HOOK_KEY = "wrGroupOne", "wrGroupTwo", "hook-key-1"
ENVIRON = {SECRET_ENV: SECRET, HOOK_ENV: HOOK_KEY}
MONDAY_9 = int(at("2026-11-23 09:00").timestamp())


@pytest.fixture
async def peer():
    server = LongConnectionServer(BOT_ID, SECRET)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http():
    side = HttpSide({HOOK_KEY: G1})
    side.start()
    yield side
    await side.stop()


def long_config(peer, http, **extra) -> WecomConfig:
    fields = dict(bot_id=BOT_ID, secret_env=SECRET_ENV, bot_name="机器人", ws_url=peer.url, reconnect_max_seconds=0.5,
                  webhook_url=f"http://127.0.0.1:{http.port}/cgi-bin/webhook/send", webhooks={G1: HOOK_ENV})
    return WecomConfig(**{**fields, **extra})


@contextlib.asynccontextmanager
async def running(engine, config: WecomConfig, environ=ENVIRON):
    adapter = WecomAdapter(config, environ)
    async with serving(engine, adapter) as task:
        yield adapter, task


def answers(peer, group: str) -> list[str]:
    return [text for how, text in peer.said[group] if how == "answer"]


async def answer_to(peer, group: str, user: str, words: str, when: int = MONDAY_9) -> str:
    """A member @-messages the bot; returns the bot's answer to it."""
    before = len(answers(peer, group))
    await peer.say(group, user, f"@机器人 {words}", when)
    return (await wait_until(lambda: answers(peer, group)[before:], f"an answer to {words!r}"))[0]


async def test_check_in_is_answered_in_its_group_and_a_second_is_already(peer, http, make_engine):
    engine = await make_engine()
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        assert "签到成功" in await answer_to(peer, G2, "zhangsan", "签到")
        assert "已经签过到" in await answer_to(peer, G2, "zhangsan", "签到", MONDAY_9 + 60)
    assert answers(peer, G1) == [] and http.posted == {}  # the right group, and as answers


def two_moves(first: str) -> tuple[str, str]:
    """Two idioms that continue a chain from ``first`` by the same character."""
    b = book()
    for move in b.followers(first, by_sound=False):
        for second in b.followers(move, by_sound=False):
            if second not in (first, move):
                return move, second
    raise LookupError(first)


async def test_top_lists_the_board(peer, http, make_engine):
    engine = await make_engine()
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        await answer_to(peer, G1, "zhangsan", "签到")
        board = await answer_to(peer, G1, "lisi", "/top", MONDAY_9 + 60)
    assert "排行榜" in board and "1. zhangsan" in board


async def test_an_idiom_chain_is_played_by_at_moves(peer, http, make_engine):
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        opened = await answer_to(peer, G1, "zhangsan", "/接龙")
        first = re.findall(r"「(.{4})」", opened)[0]
        move, second = two_moves(first)
        accepted = await answer_to(peer, G1, "lisi", move, MONDAY_9 + 30)
        assert "+5 分" in await answer_to(peer, G1, "wangwu", f"{second} @机器人", MONDAY_9 + 60)
    assert "+5 分" in accepted
    assert [e.text for e in events] == ["/接龙", move, second]  # the mention stripped, wherever it was


async def test_a_morning_post_goes_through_the_webhook_where_the_bot_may_not_start_one(peer, http, make_engine):
    peer.proactive_refused.add(G1)
    engine = await make_engine()
    async with running(engine, long_config(peer, http, answer_window_seconds=0.2)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        await answer_to(peer, G1, "zhangsan", "签到")  # the group is known from now on
        await asyncio.sleep(0.3)  # the check-in's callback is too old to carry the post
        await engine.scheduler.run_due(at("2026-11-24 08:00"))
        await wait_until(lambda: any("早上好" in b["text"]["content"] for b in http.posted.get(G1, ())),
                         "the morning post through the webhook")
    assert [how for how, _ in peer.said[G1]] == ["answer"]  # the proactive send was refused, not retried


async def test_a_dropped_connection_comes_back_and_nothing_is_handled_twice(peer, http, make_engine):
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        await answer_to(peer, G1, "zhangsan", "签到")
        await peer.drop()
        await wait_until(lambda: peer.active and peer.subscriptions == 2, "subscribed again")
        for frame in list(peer.callbacks):  # WeCom delivers what it sent before again
            await peer.deliver(frame)
        assert "签到成功" in await answer_to(peer, G1, "lisi", "签到", MONDAY_9 + 60)
    assert [(e.user, e.text) for e in events] == [("zhangsan", "签到"), ("lisi", "签到")]
    assert adapter.seen.repeats == 1


async def test_a_second_connection_displaces_the_first_which_says_so_and_stays_off(peer, http, make_engine, caplog):
    first_engine, second_engine = await make_engine(), await make_engine()
    async with running(first_engine, long_config(peer, http)) as (first, _):
        await wait_until(lambda: peer.active, "the first subscribed")
        async with running(second_engine, long_config(peer, http)) as (second, _):
            await wait_until(lambda: first.displaced, "the first displaced")
            await asyncio.sleep(1.5)  # three reconnect backoffs: the first must not fight back
            assert peer.subscriptions == 2 and len(peer.displaced) == 1
            assert "签到成功" in await answer_to(peer, G1, "zhangsan", "签到")
    assert "another long connection subscribed with bot id" in caplog.text


async def test_a_refused_secret_stops_the_start_with_one_line(peer, http, make_engine):
    engine = await make_engine()
    adapter = WecomAdapter(long_config(peer, http), {**ENVIRON, SECRET_ENV: "wrong"})
    with pytest.raises(AdapterStartError, match=f"refused the long connection for bot {BOT_ID} with the secret in {SECRET_ENV}") as info:
        await adapter.run(engine)
    assert "wrong" not in str(info.value)


# ---------------------------------------------------------------------------------------- callback mode

TOKEN, AES_KEY = "cb-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@contextlib.asynccontextmanager
async def callback_mode(engine, http):
    config = WecomConfig(mode="callback", bot_name="机器人", callback=CallbackServer(port=0),
                         webhook_url=f"http://127.0.0.1:{http.port}/cgi-bin/webhook/send")
    environ = {"QUNBOT_WECOM_TOKEN": TOKEN, "QUNBOT_WECOM_AES_KEY": AES_KEY}
    async with running(engine, config, environ) as (adapter, task):
        await wait_until(lambda: adapter.listener.server, "listening")
        yield adapter, CallbackSender(f"http://127.0.0.1:{adapter.listener.port}/wecom/callback", TOKEN, AES_KEY)


async def test_callback_mode_verifies_the_url_and_answers_a_wechatpy_callback(peer, http, make_engine):
    engine = await make_engine()
    async with callback_mode(engine, http) as (adapter, sender):
        verified = await sender.verify_url("echo-8f3a")
        assert (verified.status_code, verified.text) == (200, "echo-8f3a")
        body = {**peer.message(G1, "zhangsan", "@机器人 签到", MONDAY_9), "response_url": http.response_url()}
        status, answer = await sender.post(body)
    assert status == 200 and answer["msgtype"] == "stream" and answer["stream"]["finish"] is True
    assert "签到成功" in answer["stream"]["content"]


async def test_callback_mode_refuses_a_bad_signature_and_never_handles_it(peer, http, make_engine):
    engine = await make_engine()
    events = record_events(engine)
    async with callback_mode(engine, http) as (adapter, sender):
        status, answer = await sender.post(peer.message(G1, "zhangsan", "@机器人 签到", MONDAY_9), tamper=True)
        assert (status, answer) == (403, None)
        await asyncio.sleep(0.1)
    assert events == [] and adapter.seen.repeats == 0 and len(adapter.seen) == 0


# ---------------------------------------------------------------------------------------- the webhook's limit

async def burst(make_engine, http, count: int, per_window: int, window: float) -> bool:
    limits = OutboxLimits(per_group_per_minute=100_000, per_second=100_000)
    engine = await make_engine(config=QunbotConfig(outbox={"wecom": limits}))
    config = WecomConfig(bot_id=BOT_ID, secret_env=SECRET_ENV, proactive=False, webhooks={G1: HOOK_ENV},
                         webhook_url=f"http://127.0.0.1:{http.port}/cgi-bin/webhook/send",
                         webhook_per_minute=per_window, webhook_window_seconds=window)
    engine.adapters["wecom"] = WecomAdapter(config, ENVIRON)  # sends only: nothing to run
    posts = [SendMessage(platform="wecom", group=G1, text=f"第 {i} 条", plugin="test", reason="burst") for i in range(count)]
    try:
        return await asyncio.wait_for(engine.outbox.submit(posts), GUARD_SECONDS)
    finally:
        await engine.adapters["wecom"].webhooks.close()


async def test_a_burst_of_100_posts_never_exceeds_the_webhooks_limit_and_none_is_dropped(make_engine, http):
    http.limit, http.window = 20, 0.4
    assert await burst(make_engine, http, 100, per_window=20, window=0.4)
    assert [b["text"]["content"] for b in http.posted[G1]] == [f"第 {i} 条" for i in range(100)]
    assert http.refused == 0 and http.most_in_window == 20


async def test_overflow_from_another_sender_is_waited_out(make_engine, http):
    http.limit, http.window = 5, 0.3  # someone else uses the same webhook: WeCom refuses beyond 5
    assert await burst(make_engine, http, 30, per_window=10, window=0.3)
    assert [b["text"]["content"] for b in http.posted[G1]] == [f"第 {i} 条" for i in range(30)]
    assert http.refused > 0
