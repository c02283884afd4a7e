"""QQ when the OneBot implementation fails: our simulator as a process of its own (tests/onebot_process.py),
killed and restarted on the same port (re-sending its last event), dying after it carried out a send but
before answering, answering slowly for one group."""

from __future__ import annotations

import pytest

from bot.adapters.qq.config import ForwardConnection, QQConfig, ReverseServer
from bot.model import MessageReceived
from tests.onebot_process import OneBotProcess
from tests.qq_harness import running, segment, texts_of, wait_until
from tests.test_qq_sim import record_events

A, B = 700101, 700102
OWNER, MEMBER, OTHER = 1001, 1003, 1004
TOKEN_ENV, TOKEN = "QUNBOT_TEST_QQ_TOKEN", "s3cret"


@pytest.fixture
def onebot(tmp_path):
    peer = OneBotProcess(tmp_path, {g: {OWNER: "owner", MEMBER: "member", OTHER: "member"} for g in (A, B)}, TOKEN)
    peer.start()
    yield peer
    peer.kill()


def config(peer: OneBotProcess) -> QQConfig:
    return QQConfig(forward=[ForwardConnection(url=peer.url)], token_env=TOKEN_ENV, action_timeout=5)


def replies_to(peer: OneBotProcess, message_id: int) -> list[str]:
    return [texts_of(s["message"]) for s in peer.sent() if segment(s["message"], "reply") == {"id": str(message_id)}]


def handled(events) -> list[str]:
    return [e.id for e in events if isinstance(e, MessageReceived)]


async def reconnected(peer: OneBotProcess, adapter) -> None:
    await wait_until(lambda: adapter.connections, "the adapter connected again")
    await wait_until(lambda: peer.process.alive, "the new process")


@pytest.mark.parametrize("direction", ["forward", "reverse"])
async def test_killed_and_restarted_the_bot_is_back_and_the_event_sent_again_is_handled_once(onebot, make_engine, direction):
    engine = await make_engine()
    events = record_events(engine)
    reverse = QQConfig(reverse=ReverseServer(port=0), token_env=TOKEN_ENV, action_timeout=5)
    async with running(engine, config(onebot) if direction == "forward" else reverse, {TOKEN_ENV: TOKEN}) as (adapter, _):
        url = ""
        if direction == "reverse":  # the implementation connects to us, and again after its restart
            onebot.kill()
            url = f"ws://127.0.0.1:{await wait_until(lambda: adapter.reverse_port, 'listening')}/onebot/v11/ws"
            onebot.start(reverse=url)
        await wait_until(lambda: adapter.connections, "connected")
        first = await onebot.say(A, MEMBER, "签到")
        await wait_until(lambda: replies_to(onebot, first), "the first reply")
        onebot.kill()
        await wait_until(lambda: not adapter.connections, "the loss noticed")
        onebot.start(resend=1, reverse=url)  # the new process posts the last event again to its first client
        await reconnected(onebot, adapter)
        second = await onebot.say(A, OTHER, "签到")
        await wait_until(lambda: replies_to(onebot, second), "the reply after the restart")
    assert first != second  # the state file keeps message ids unique across processes
    assert adapter.seen.repeats == 1  # the re-sent event arrived, and was recognised
    assert handled(events) == [str(first), str(second)]
    assert len(replies_to(onebot, first)) == 1 and "签到成功" in replies_to(onebot, first)[0]


async def test_a_send_carried_out_but_never_answered_is_reported_not_sent_again(onebot, make_engine, caplog):
    engine = await make_engine()
    async with running(engine, config(onebot), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await onebot.control("crash_after", action="send_group_msg")
        first = await onebot.say(A, MEMBER, "签到")
        await wait_until(lambda: "not sent again, it may have arrived" in caplog.text, "the report of the lost answer")
        onebot.start()
        await reconnected(onebot, adapter)
        second = await onebot.say(A, OTHER, "签到")
        await wait_until(lambda: replies_to(onebot, second), "the reply after the restart")
    assert len(replies_to(onebot, first)) == 1 and len(replies_to(onebot, second)) == 1


async def test_a_slow_answer_for_one_group_does_not_hold_up_another(onebot, make_engine):
    engine = await make_engine()
    async with running(engine, config(onebot), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await onebot.control("slow", action="send_group_msg", group=A, seconds=2)
        slow = await onebot.say(A, MEMBER, "签到")
        fast = await onebot.say(B, MEMBER, "签到")
        await wait_until(lambda: replies_to(onebot, fast), "the other group's reply")
        assert replies_to(onebot, slow) == []  # still waiting for the slow answer, and B did not wait for it
        await wait_until(lambda: replies_to(onebot, slow), "the slow group's reply")
    assert len(replies_to(onebot, slow)) == len(replies_to(onebot, fast)) == 1
