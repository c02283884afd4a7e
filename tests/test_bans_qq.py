"""Shared bans on QQ against our OneBot simulator: an advertiser removed by anti-ad in one group of a set
has their join request to another group of the set declined through its flag; /解除拉黑 lets them in."""

from __future__ import annotations

import pytest

from bot.adapters.qq.config import ForwardConnection, QQConfig
from tests.onebot_sim import OneBotSim
from tests.qq_harness import join_gate_rules, running, wait_until

A, B, OWNER, SPAMMER = 700201, 700202, 1001, 1066
TOKEN_ENV, TOKEN = "QUNBOT_TEST_QQ_TOKEN", "s3cret"


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(A, {OWNER: "owner", SPAMMER: "member"})
    peer.add_group(B, {OWNER: "owner"})
    for group in (A, B):
        peer.groups[group][peer.self_id].role = "admin"
    yield peer
    await peer.stop()


def text(words: str) -> list[dict]:
    return [{"type": "text", "data": {"text": words}}]


def decisions(sim, flag: str) -> list[bool]:
    return [params["approve"] for action, params in sim.calls if action == "set_group_add_request" and params["flag"] == flag]


async def test_an_advertiser_removed_in_one_group_is_refused_in_another_until_unbanned(sim, make_engine, rules_dir, tmp_path, extra_plugin):
    rules = join_gate_rules(tmp_path, extra_plugin, rules_dir, "公众号")
    (rules / "sets.toml").write_text(f'[sets]\n"城市群" = ["qq:{A}", "qq:{B}"]\n', encoding="utf-8")
    (rules / "bans.toml").write_text('share = ["城市群"]\n', encoding="utf-8")
    anti_ad = (rules / "anti_ad.toml").read_text(encoding="utf-8").replace('ladder = ["warn", "mute 30m", "kick"]', 'ladder = ["kick"]')
    (rules / "anti_ad.toml").write_text(anti_ad, encoding="utf-8")
    engine = await make_engine(rules)
    config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=TOKEN_ENV)
    async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.member_says(A, SPAMMER, text("兼职刷单日结，加我微信 xiaowang12345"))
        await wait_until(lambda: SPAMMER not in sim.groups[A], "the advertiser removed from A")

        refused = await sim.request_join(B, SPAMMER, "从公众号来的")
        await wait_until(lambda: decisions(sim, refused), "the request to B decided")
        assert decisions(sim, refused) == [False] and SPAMMER not in sim.groups[B]

        await sim.member_says(B, OWNER, text(f"/解除拉黑 {SPAMMER}"))
        await wait_until(lambda: any("已解除" in str(s["message"]) for s in sim.sent), "the unban confirmed")
        welcomed = await sim.request_join(B, SPAMMER, "从公众号来的")
        await wait_until(lambda: SPAMMER in sim.groups[B], "let in after the unban")
    assert decisions(sim, welcomed)[0] is True  # (the test gate and the shipped join_threshold both approve)
