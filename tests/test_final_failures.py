"""A failure that will not heal (the member left, the bot lacks a right) is final at once: reported once,
never retried, and the group's queue moves on, so the next reply of that group is not held up.
Against the peers: our OneBot simulator for QQ, telegram-test-api for Telegram."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.model import MuteMember, SetCard
from tests.onebot_sim import OneBotSim
from tests.telegram_harness import Peer, eventually, running_bot
from tests.test_qq_sim import GROUP, MEMBER, OWNER, TOKEN, TOKEN_ENV, forward, replies_to, text
from tests.test_telegram import G, OTHER, group
from tests.test_telegram import MEMBER as TG_MEMBER
from tests.qq_harness import running, wait_until


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(GROUP, {OWNER: "owner", MEMBER: "member", 1004: "member"})
    peer.groups[GROUP][peer.self_id].role = "admin"
    yield peer
    await peer.stop()


async def test_qq_a_punished_member_who_left_fails_at_once_and_the_group_goes_on(sim, make_engine, caplog):
    caplog.set_level(logging.INFO)
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        del sim.groups[GROUP][MEMBER]  # left (the notice may come late, or never: the bot was away)
        mute = engine.outbox.submit([MuteMember(platform="qq", group=str(GROUP), user=str(MEMBER), seconds=600,
                                                plugin="anti_ad", reason="second_offence")])
        start = time.monotonic()
        asked = await sim.member_says(GROUP, 1004, text("签到"))
        await wait_until(lambda: replies_to(sim, asked), "the next reply in the group")
        took = time.monotonic() - start
        assert await asyncio.wait_for(mute, 5) is False
    assert took < 1.0, f"the group's next reply took {took:.1f}s"
    assert [a for a, p in sim.calls if a == "get_group_member_info" and p["user_id"] == MEMBER] == ["get_group_member_info"]
    reports = [r.getMessage() for r in caplog.records if "could not deliver mute" in r.getMessage()]
    assert len(reports) == 1 and f"member info of {MEMBER} in group {GROUP} unavailable" in reports[0], reports
    assert "set_group_ban" not in [a for a, _ in sim.calls]


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


async def test_telegram_an_action_on_a_member_who_left_fails_once_and_the_group_goes_on(peer, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.INFO)
    group(peer, bot_rights={"can_manage_chat": True, "can_manage_tags": True, "can_restrict_members": True})
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, adapter):
        peer.say(G, OTHER, "大家好")  # the bot learns its rights (member tags) in the group
        await eventually(lambda: "set_card" in adapter.capabilities(str(G)), "the bot's rights known")
        peer.post("/test/chat_member", chat_id=G, user={"id": OTHER, "is_bot": False, "first_name": "小李"},
                  old_status="member", new_status="left")
        tagged = engine.outbox.submit([SetCard(platform="telegram", group=str(G), user=str(OTHER), card="上海-电商-小李")])
        start = time.monotonic()
        peer.say(G, TG_MEMBER, "签到")
        await eventually(lambda: [m for m in peer.sent(G) if "签到" in m["text"]], "the next reply in the group")
        took = time.monotonic() - start
        assert await asyncio.wait_for(tagged, 5) is False
    assert took < 1.5, f"the group's next reply took {took:.1f}s"  # one poll of the peer included
    assert len(peer.calls("setChatMemberTag")) == 1
    assert len([r for r in caplog.records if "could not deliver set_card" in r.getMessage()]) == 1
