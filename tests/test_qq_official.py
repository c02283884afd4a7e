"""The qq_official adapter (QQ Bot API v2) in a real engine against the loopback fake written from the
official documentation (tests/qq_official_peer.py), over the gateway and the webhook."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.base import AdapterStartError, PlatformError
from bot.adapters.qq_official.signing import Signer
from bot.config import QunbotConfig
from bot.model import MuteMember, SendMessage
from tests.qq_harness import join_gate_rules, record_events, wait_until
from tests.qq_official_harness import PLATFORM, config_for, replies_to, running, settle, texts_in
from tests.qq_official_peer import QQOfficialPeer, sign

OWNER, ADMIN, MEMBER, NEWCOMER = "OWNEROPENID01", "ADMINOPENID02", "MEMBEROPENID03", "NEWCOMEROPENID9"
ROLES = {OWNER: "owner", ADMIN: "admin", MEMBER: "member"}
AD = "加我微信 abc12345 领取免费课程，扫码进群 http://t.cn/xyz"
TRANSPORTS = ["websocket", "webhook"]


@pytest.fixture
async def peer():
    fake = QQOfficialPeer()
    await fake.start()
    yield fake
    await fake.stop()


# ---------------------------------------------------------------------------- signing


def test_signing_matches_the_official_test_vector_in_the_fake_and_the_adapter():
    # event-emit.md: secret DG5g3B4j9X2KOErG, event_ts 1725442341, plain_token Arq0D5A61EgUu4OxUvOp
    expected = "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
    signer = Signer("DG5g3B4j9X2KOErG")
    assert sign("DG5g3B4j9X2KOErG", b"1725442341Arq0D5A61EgUu4OxUvOp") == expected
    assert signer.validation_answer("Arq0D5A61EgUu4OxUvOp", "1725442341") == {
        "plain_token": "Arq0D5A61EgUu4OxUvOp", "signature": expected}
    assert signer.verify("1725442341", b"Arq0D5A61EgUu4OxUvOp", expected)


def test_the_adapter_verifies_what_the_fake_signs_and_nothing_else():
    signer, body = Signer("naOC0ocQE3shWLAfffVLB1rhYPG7"), b'{"op":0,"d":{},"t":"GATEWAY_EVENT_NAME"}'
    good = sign("naOC0ocQE3shWLAfffVLB1rhYPG7", b"1725442341" + body)
    assert signer.verify("1725442341", body, good)
    assert not signer.verify("1725442342", body, good)  # another timestamp
    assert not signer.verify("1725442341", body + b" ", good)  # another body
    assert not signer.verify("1725442341", body, good[:-2])  # truncated
    assert not signer.verify("1725442341", body, "zz" * 64)  # not hex
    assert not signer.verify("1725442341", body, sign("another-secret-entirely", b"1725442341" + body))


# ---------------------------------------------------------------------------- both transports


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_check_in_gets_a_passive_reply_and_a_second_is_already(peer, make_engine, tmp_path, transport):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, transport, tmp_path)) as adapter:
        first = await peer.member_says(group, MEMBER, "签到")
        reply = (await wait_until(lambda: replies_to(peer, first), "the check-in reply"))[0]
        second = await peer.member_says(group, MEMBER, "签到")
        again = (await wait_until(lambda: replies_to(peer, second), "the second reply"))[0]
        await settle(engine, adapter)
    assert "签到成功" in reply["content"] and reply["msg_seq"] == 1 and reply["msg_type"] == 0
    assert "已经签过到" in again["content"]
    assert all("msg_id" in s["body"] for s in peer.sent)  # never an active message


def ad_rules(rules_dir):
    text = (rules_dir / "anti_ad.toml").read_text(encoding="utf-8")
    (rules_dir / "anti_ad.toml").write_text(text.replace('ladder = ["warn", "mute 30m", "kick"]', 'ladder = ["mute 30m", "kick"]'),
                                            encoding="utf-8")
    return rules_dir


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_ad_is_recalled_and_its_poster_muted_where_the_bot_is_admin(peer, make_engine, rules_dir, tmp_path, transport):
    group = peer.add_group(ROLES, bot_role="admin")
    log_group = peer.add_group({OWNER: "owner"}, proactive=True)
    engine = await make_engine(ad_rules(rules_dir), QunbotConfig(admin_log=f"{PLATFORM}:{log_group}"))
    async with running(engine, peer, config_for(peer, transport, tmp_path)) as adapter:
        ad = await peer.member_says(group, MEMBER, AD)
        await wait_until(lambda: MEMBER in peer.groups[group].muted, "the poster muted")
        await settle(engine, adapter)
        assert await peer.member_says(group, MEMBER, "还能说话吗") is None  # the mute holds on the platform
    assert peer.groups[group].recalled == [ad]
    assert any("anti_ad" in t for t in texts_in(peer, log_group))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_where_the_bot_is_no_admin_nothing_is_attempted_and_the_admin_log_is_told(peer, make_engine, rules_dir, tmp_path, transport):
    group = peer.add_group(ROLES, bot_role="member")
    log_group = peer.add_group({OWNER: "owner"}, proactive=True)
    engine = await make_engine(ad_rules(rules_dir), QunbotConfig(admin_log=f"{PLATFORM}:{log_group}"))
    async with running(engine, peer, config_for(peer, transport, tmp_path)) as adapter:
        ad = await peer.member_says(group, MEMBER, AD)
        await wait_until(lambda: any("anti_ad" in t for t in texts_in(peer, log_group)), "the admin log told")
        await settle(engine, adapter)
    calls = [path for _, path, _ in peer.calls]
    assert not any(p.endswith(("/restrict_chat_setting", f"/messages/{ad}")) for p in calls)
    assert peer.groups[group].recalled == [] and peer.groups[group].muted == {}
    said = texts_in(peer, group)
    assert any("无法自动禁言" in t for t in said)  # the outbox's fallback: a warning, not a mute


async def test_where_the_bot_is_no_admin_the_group_is_not_told_of_a_mute(peer, make_engine, rules_dir, tmp_path):
    group = peer.add_group(ROLES, bot_role="member")
    engine = await make_engine(ad_rules(rules_dir))
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        await peer.member_says(group, MEMBER, AD)
        await wait_until(lambda: texts_in(peer, group), "the group told something")
        await settle(engine, adapter)
    assert not any("禁言 30 分钟。" in t and "无法" not in t for t in texts_in(peer, group))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_members_set_is_refused(peer, make_engine, tmp_path, transport):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, transport, tmp_path)):
        mid = await peer.member_says(group, MEMBER, "/set checkin base_points 5")
        reply = (await wait_until(lambda: replies_to(peer, mid), "the refusal"))[0]
    assert "只有管理员可以使用" in reply["content"]
    assert engine.rulebook.effective("checkin", f"{PLATFORM}:{group}").base_points == 10


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_join_request_with_the_right_answer_is_approved(peer, make_engine, only_rules, tmp_path, extra_plugin, transport):
    group = peer.add_group(ROLES, bot_role="admin")
    engine = await make_engine(join_gate_rules(tmp_path, extra_plugin, only_rules("checkin"), "公众号"))
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, transport, tmp_path)):
        request = await peer.request_join(group, NEWCOMER, "从公众号来的")
        await wait_until(lambda: any(e.name == "member_joined" for e in events), "the newcomer joined")
    approval = [body for method, path, body in peer.calls if path.endswith(f"/approval_join_request/{NEWCOMER}")]
    assert approval == [{"op": "approve", "join_request_id": request}]
    assert peer.groups[group].requests[request]["state"] == "approved" and NEWCOMER in peer.groups[group].roles
    assert events[0].answer == "从公众号来的"


async def test_a_webhook_post_with_a_bad_signature_is_refused_and_never_handled(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, "webhook", tmp_path)) as adapter:
        forged = {"op": 0, "id": "GROUP_MESSAGE_CREATE:x", "t": "GROUP_MESSAGE_CREATE",
                  "d": {"id": "ROBOT1.0_forged", "content": "签到", "group_openid": group, "author": {"member_openid": MEMBER}}}
        assert (await peer.post_webhook(forged, signature=sign("not-the-secret", b"1" + b"x")))[0] == 401
        assert (await peer.post_webhook(forged, signature=""))[0] == 401
        validation = {"op": 13, "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}}
        assert (await peer.post_webhook(validation, signature="00" * 64))[0] == 401  # no signing oracle
        status, answer = await peer.post_webhook(validation)
        await settle(engine, adapter)
    assert events == [] and peer.sent == [] and adapter.webhook.refused == 3
    assert status == 200 and '"signature"' in answer


# ---------------------------------------------------------------------------- the gateway


async def test_a_dropped_gateway_resumes_with_nothing_handled_twice_or_lost(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES)
    peer.replay_overlap = 1  # the gateway re-sends the last dispatch the client already had
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        first = await peer.member_says(group, MEMBER, "签到")
        await wait_until(lambda: replies_to(peer, first), "the first reply")
        await peer.drop()
        missed = await peer.member_says(group, ADMIN, "签到")  # sent while the connection is down
        await wait_until(lambda: peer.resumes == 1 and peer.connected.is_set(), "the session resumed")
        await wait_until(lambda: replies_to(peer, missed), "the reply to the missed message")
        after = await peer.member_says(group, OWNER, "签到")
        await wait_until(lambda: replies_to(peer, after), "the reply after resuming")
        await settle(engine, adapter)
    assert [e.id for e in events] == [first, missed, after]
    assert len(replies_to(peer, first)) == 1 and peer.identifies == 1
    assert adapter.seen.repeats >= 1  # the re-sent dispatch was recognised, not handled again


async def test_a_message_that_comes_as_at_and_as_full_is_handled_once(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        mid = await peer.member_says(group, MEMBER, "签到", at_bot=True)
        await wait_until(lambda: replies_to(peer, mid), "the reply")
        await settle(engine, adapter)
    assert [e.id for e in events] == [mid] and len(replies_to(peer, mid)) == 1
    assert {e["t"] for e in peer.events} >= {"GROUP_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE"}


async def test_a_wrong_secret_stops_the_start_with_one_line(peer, make_engine, tmp_path):
    engine = await make_engine()
    with pytest.raises(AdapterStartError, match="cannot get an access token.*100016"):
        async with running(engine, peer, config_for(peer, "websocket", tmp_path), secret="wrong"):
            pass


async def test_the_token_is_renewed_before_it_expires(peer, make_engine, tmp_path):
    peer.token_ttl = 2
    group = peer.add_group(ROLES)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path, token_margin_seconds=1.5)) as adapter:
        await asyncio.sleep(0.7)
        mid = await peer.member_says(group, MEMBER, "签到")
        await wait_until(lambda: replies_to(peer, mid), "the reply with a renewed token")
        await settle(engine, adapter)
    assert peer.token_requests >= 2


# ---------------------------------------------------------------------------- what the group allows


async def test_a_morning_post_where_the_bot_may_not_start_is_held_and_sent_when_a_member_speaks(peer, make_engine, tmp_path, caplog):
    group = peer.add_group(ROLES, proactive=False)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        await adapter.state(group)
        post = SendMessage(platform=PLATFORM, group=group, text="☀️ 早上好", plugin="daily_posts", reason="morning")
        assert await engine.outbox.submit([post]) is True
        assert peer.sent == [] and "daily_posts/morning is held until someone speaks" in caplog.text
        mid = await peer.member_says(group, MEMBER, "早")
        await wait_until(lambda: replies_to(peer, mid), "the held post answering the first message")
    assert replies_to(peer, mid)[0]["content"] == "☀️ 早上好"


async def test_with_holding_off_a_post_the_bot_may_not_start_is_reported_as_undelivered(peer, make_engine, tmp_path, caplog):
    group = peer.add_group(ROLES, proactive=False)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path, hold_unsent_hours=0)):
        post = SendMessage(platform=PLATFORM, group=group, text="☀️ 早上好", plugin="daily_posts", reason="morning")
        assert await engine.outbox.submit([post]) is False
    assert "could not deliver send" in caplog.text and "lets the bot speak only in answer to a member" in caplog.text


async def test_where_the_bot_may_start_a_post_goes_out_as_an_active_message(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES, proactive=True)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)):
        post = SendMessage(platform=PLATFORM, group=group, text="☀️ 早上好", plugin="daily_posts", reason="morning")
        assert await engine.outbox.submit([post]) is True
    assert [s["body"] for s in peer.sent] == [{"msg_type": 0, "content": "☀️ 早上好"}]


async def test_an_at_only_group_is_told_once_how_to_switch_all_messages_on(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES, receive_all=False)
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        assert await peer.member_says(group, MEMBER, "你好") is None  # not delivered at all
        first = await peer.member_says(group, MEMBER, "签到", at_bot=True)
        await wait_until(lambda: len(replies_to(peer, first)) == 2, "the reply and the hint")
        second = await peer.member_says(group, ADMIN, "签到", at_bot=True)
        await wait_until(lambda: replies_to(peer, second), "the second reply")
        await settle(engine, adapter)
        assert "addressed_only" in adapter.capabilities(group)
    hints = [t for t in texts_in(peer, group) if "接收群内全部消息" in t]
    assert len(hints) == 1 and "设为管理员" in hints[0]
    assert group in (tmp_path / "qq-official-state.json").read_text(encoding="utf-8")


async def test_capabilities_follow_the_bot_state_and_a_refusal_is_one_clear_error(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES, bot_role="admin")
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        assert adapter.capabilities(group) == frozenset({"send"})  # unknown yet: the safe view
        await adapter.state(group)
        assert {"delete", "mute", "kick", "decide_join"} <= adapter.capabilities(group)
        peer.groups[group].bot_role = "member"  # the owner took the admin role away
        with pytest.raises(PlatformError) as refused:
            await adapter.perform(MuteMember(platform=PLATFORM, group=group, user=MEMBER, seconds=600))
        assert not refused.value.retryable and "not an admin of this group" in str(refused.value)
        await adapter.state(group)  # asked afresh after the refusal
        assert adapter.capabilities(group) == frozenset({"send"})


async def test_a_chart_is_uploaded_through_the_files_endpoint(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES)
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG fake chart")
    engine = await make_engine()
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        mid = await peer.member_says(group, MEMBER, "你好")
        await settle(engine, adapter)
        await adapter.perform(SendMessage(platform=PLATFORM, group=group, text="本周统计", image=str(chart), reply_to=mid))
    body = replies_to(peer, mid)[-1]
    assert body["msg_type"] == 7 and body["content"] == "本周统计" and peer.files[body["media"]["file_info"]] == len(chart.read_bytes())


@pytest.mark.parametrize("op, identifies, resumes", [(7, 1, 1), (9, 2, 0)])
async def test_reconnect_resumes_and_invalid_session_identifies_again(peer, make_engine, tmp_path, op, identifies, resumes):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, "websocket", tmp_path)) as adapter:
        await peer.send_op(op, False if op == 9 else None)
        await wait_until(lambda: peer.identifies + peer.resumes == 2 and peer.connected.is_set(), "connected again")
        mid = await peer.member_says(group, MEMBER, "签到")
        await wait_until(lambda: replies_to(peer, mid), "the reply on the new connection")
        await settle(engine, adapter)
    assert (peer.identifies, peer.resumes) == (identifies, resumes) and [e.id for e in events] == [mid]


async def test_a_webhook_event_posted_twice_is_handled_once(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES)
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, peer, config_for(peer, "webhook", tmp_path)) as adapter:
        mid = await peer.member_says(group, MEMBER, "签到")
        status, answer = await peer.post_webhook(peer.events[-1])  # QQ retries a post whose answer it missed
        await wait_until(lambda: replies_to(peer, mid), "the reply")
        await settle(engine, adapter)
    assert status == 200 and answer == '{"op": 12}'
    assert [e.id for e in events] == [mid] and len(replies_to(peer, mid)) == 1


async def test_bot_states_are_kept_across_a_restart_so_a_timer_after_it_is_planned_right(peer, make_engine, tmp_path):
    group = peer.add_group(ROLES, bot_role="admin")
    engine = await make_engine()
    config = config_for(peer, "websocket", tmp_path)
    async with running(engine, peer, config) as adapter:
        await adapter.state(group)
    async with running(engine, peer, config) as restarted:
        assert "kick" in restarted.capabilities(group)  # the last known state, before any event of the group
        peer.groups[group].bot_role = "member"
        await wait_until(lambda: restarted.capabilities(group) == frozenset({"send"}), "the state refreshed in the background")
