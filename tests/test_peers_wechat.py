"""WeChat when the puppet-service gateway fails: killed and restarted mid-stream (events delivered again
by the new process), dying after it carried out a send but before answering, answering slowly for one room.
Every call the gateway's processes received is in its journal file, a killed process's included."""

from __future__ import annotations

import logging
import time

import pytest

from bot.model import MemberJoined, MessageReceived
from tests.telegram_harness import eventually
from tests.wechat_harness import ADMIN, FOREIGN, MEMBER, OTHER, OWNED, Gateway, running_bot

FAST = {"reconnect_max_seconds": 1}


@pytest.fixture
def gateway(tmp_path):
    g = Gateway(tmp_path)
    yield g
    g.stop()


def sends(gateway: Gateway, room: str) -> list[tuple[tuple[str, ...], str]]:
    """Who each send in ``room`` mentioned and its text, over every process of the gateway."""
    return [(tuple(c["mentionIdList"]), c["text"]) for c in gateway.journal("messageSendText") if c["conversationId"] == room]


async def test_restarted_mid_stream_the_bot_is_back_and_what_the_new_process_delivers_again_is_handled_once(
        gateway, tmp_path, extra_plugin):
    seen = []
    join = {"roomId": OWNED, "inviteeIdList": [OTHER], "inviterId": ADMIN, "timestamp": int(time.time() * 1000)}
    async with running_bot(gateway, tmp_path, extra_plugin, seen, wechat=FAST) as (engine, _):
        first = gateway.say(OWNED, MEMBER, "签到")
        gateway.emit("room-join", join)
        await eventually(lambda: any(m == (MEMBER,) and "签到成功" in t for m, t in sends(gateway, OWNED)), "the check-in reply")
        await eventually(lambda: [e for e in seen if isinstance(e, MemberJoined)], "the join")
        gateway.restart()  # SIGKILL, then a new process on the same ports
        await eventually(gateway.streams, "the bot's new event stream", timeout=15)
        gateway.say(OWNED, MEMBER, "签到", id=first)  # the provider re-syncs: the same message again
        gateway.emit("room-join", join)  # and the same join
        second = gateway.say(OWNED, OTHER, "签到")
        # What was still queued for the room when the gateway died (the welcome, paced) goes out too.
        await eventually(lambda: [t for m, t in sends(gateway, OWNED) if m == (OTHER,) and "答案不对" in t],
                         "the answer to the newcomer's message (taken as the quiz's answer)")
        await engine.outbox.drain()
    assert [e.id for e in seen if isinstance(e, MessageReceived)] == [first, second]
    texts = sends(gateway, OWNED)
    assert len(texts) == len(set(texts)) == 4, texts  # each once, across both processes
    assert [m for m, _ in texts] == [(MEMBER,), (OTHER,), (OTHER,), (OTHER,)]  # check-in, welcome, quiz, answer
    assert [e.user for e in seen if isinstance(e, MemberJoined)] == [OTHER]


async def test_a_send_carried_out_but_never_answered_is_reported_not_sent_again(gateway, tmp_path, extra_plugin, caplog):
    async with running_bot(gateway, tmp_path, extra_plugin, wechat=FAST):
        gateway.crash_after("messageSendText")
        gateway.say(OWNED, MEMBER, "签到")
        await eventually(lambda: not gateway.node.alive, "the gateway's death right after the send")
        await eventually(lambda: "not sent again, it may have arrived" in caplog.text, "the report of the lost answer")
        gateway.start()
        await eventually(gateway.streams, "the bot's new event stream", timeout=15)
        gateway.say(OWNED, OTHER, "签到")
        await eventually(lambda: gateway.sent(OWNED), "the reply from the new process")
    assert [m for m, _ in sends(gateway, OWNED)] == [(MEMBER,), (OTHER,)]


async def test_a_lookup_cut_off_by_the_restart_is_tried_again_and_the_message_answered(gateway, tmp_path, extra_plugin):
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen, wechat=FAST):
        gateway.slow("roomPayload", OWNED, 30)  # the old process never answers it
        first = gateway.say(OWNED, MEMBER, "签到")
        await eventually(lambda: gateway.calls("roomPayload"), "the bot's lookup of the room, hanging")
        gateway.restart()
        [reply] = await eventually(lambda: gateway.sent(OWNED), "the reply, once the new process answered the lookup")
    assert reply["mentionIdList"] == [MEMBER] and "签到成功" in reply["text"]
    assert [e.id for e in seen if isinstance(e, MessageReceived)] == [first]


@pytest.mark.parametrize("method", ["roomPayload", "messageSendText"])
async def test_a_slow_answer_about_one_room_does_not_hold_up_another(gateway, tmp_path, extra_plugin, method, caplog):
    caplog.set_level(logging.INFO, logger="bot.adapters.wechat")
    async with running_bot(gateway, tmp_path, extra_plugin, wechat=FAST):
        gateway.slow(method, FOREIGN, 3)
        gateway.say(FOREIGN, MEMBER, "签到")
        gateway.say(OWNED, MEMBER, "签到")
        await eventually(lambda: sends(gateway, OWNED), "the reply in the room that answers fast")
        assert sends(gateway, FOREIGN) == []  # still waiting for the slow answer, and OWNED did not wait
        await eventually(lambda: sends(gateway, FOREIGN), "the reply in the slow room")
    assert len(sends(gateway, OWNED)) == len(sends(gateway, FOREIGN)) == 1
