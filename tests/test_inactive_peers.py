"""The sleeping-member clean-up against real peers: the QQ adapter on our OneBot v11 simulator and the
Telegram adapter on telegram-test-api. Three members spoke ten days ago (fed to the engine directly, with
that date); the owner's /清理潜水 goes through the platform, one of them answers through it, and at the
deadline the other two are removed from the peer's group while the one who spoke stays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.model import MessageReceived
from tests.onebot_sim import OneBotSim
from tests.qq_harness import running, texts_of, wait_until
from tests.test_qq_sim import GROUP, OWNER, TOKEN, TOKEN_ENV, forward, text

RULES = "silent_days = 3\ncleanup = true\nwarn_hours = 24\n"
SLEEPERS = (1011, 1012, 1013)


async def slept(engine, platform: str, group: str) -> datetime:
    """The three sleepers' last words, ten days ago; returns now."""
    now = datetime.now(timezone.utc)
    for user in SLEEPERS:
        await engine.handle(MessageReceived(at=now - timedelta(days=10), platform=platform, group=group, user=str(user),
                                            name=f"u{user}", id=f"old{user}", text="大家好"))
    return now


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(GROUP, {OWNER: "owner", **{u: "member" for u in SLEEPERS}})
    peer.groups[GROUP][peer.self_id].role = "admin"
    yield peer
    await peer.stop()


async def test_qq_removes_the_silent_and_keeps_who_spoke(sim, make_engine, only_rules):
    engine = await make_engine(only_rules(inactive=RULES))
    now = await slept(engine, "qq", str(GROUP))
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.member_says(GROUP, OWNER, text("/清理潜水"))
        warning = await wait_until(lambda: [s for s in sim.sent if "潜水清理提醒" in texts_of(s["message"])], "the warning")
        ats = {seg["data"]["qq"] for seg in warning[0]["message"] if seg["type"] == "at"}
        assert ats == {str(u) for u in SLEEPERS}
        await sim.member_says(GROUP, 1012, text("我还在"))
        await wait_until(lambda: [s for s in sim.sent if "欢迎回来" in texts_of(s["message"])], "the member spared")
        await engine.scheduler.run_due(now + timedelta(hours=25))
        await wait_until(lambda: 1011 not in sim.groups[GROUP] and 1013 not in sim.groups[GROUP], "the removals")
        told = await wait_until(lambda: [s for s in sim.sent if "潜水清理到期" in texts_of(s["message"])], "the notice")
    assert 1012 in sim.groups[GROUP] and OWNER in sim.groups[GROUP]
    assert "正在将其移出本群" in texts_of(told[0]["message"])
    assert sorted(p["user_id"] for a, p in sim.calls if a == "set_group_kick") == [1011, 1013]


async def test_telegram_removes_the_silent_and_keeps_who_spoke(tmp_path, extra_plugin):
    from tests.telegram_harness import Peer, eventually, running_bot, user
    from tests.test_telegram import ADMIN, G

    peer = Peer()
    try:
        peer.chat(G, [{"user": user(ADMIN, "Ada"), "status": "administrator", "rights": {}},
                      *({"user": user(u, f"u{u}"), "status": "member"} for u in SLEEPERS)])
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "inactive.toml").write_text(RULES, encoding="utf-8")
        (rules / "tg_moderator.toml").write_text("", encoding="utf-8")
        async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
            now = await slept(engine, "telegram", str(G))
            peer.say(G, ADMIN, "/清理潜水")
            await eventually(lambda: [m for m in peer.sent(G) if "潜水清理提醒" in m["text"]], "the warning")
            peer.say(G, 1012, "我还在")
            await eventually(lambda: [m for m in peer.sent(G) if "欢迎回来" in m["text"]], "the member spared")
            await engine.scheduler.run_due(now + timedelta(hours=25))
            await eventually(lambda: len(peer.calls("unbanChatMember")) == 2, "the removals")
            told = await eventually(lambda: [m for m in peer.sent(G) if "潜水清理到期" in m["text"]], "the notice")
        members = peer.state(G)["members"]
        assert [members[str(u)]["status"] for u in SLEEPERS] == ["left", "member", "left"]
        assert "正在将其移出本群" in told[0]["text"]
    finally:
        peer.stop()
