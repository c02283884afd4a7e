"""The QQ adapter against our spec-strict OneBot v11 simulator (tests/onebot_sim.py): forward and
reverse WS, auth, real side effects and injected faults."""

from __future__ import annotations


import pytest
from websockets.exceptions import InvalidStatus

from bot.adapters.base import AdapterStartError
from bot.adapters.qq.config import ForwardConnection, QQConfig, ReverseServer
from bot.model import KickMember, MessageReceived, MuteMember, SetCard
from tests.onebot_sim import OneBotSim
from tests.qq_harness import join_gate_rules, record_events, running, segment, texts_of, wait_until

GROUP, OWNER, ADMIN, MEMBER, NEWCOMER = 700001, 1001, 1002, 1003, 1009
TOKEN_ENV, TOKEN = "QUNBOT_TEST_QQ_TOKEN", "s3cret"


@pytest.fixture
async def sim():
    peer = OneBotSim(token=TOKEN)
    peer.add_group(GROUP, {OWNER: "owner", ADMIN: "admin", MEMBER: "member"})
    peer.groups[GROUP][peer.self_id].role = "admin"
    yield peer
    await peer.stop()


async def forward(sim, **extra) -> QQConfig:
    return QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=TOKEN_ENV, **extra)


def text(words: str) -> list[dict]:
    return [{"type": "text", "data": {"text": words}}]


def messages(events) -> list[MessageReceived]:
    return [e for e in events if isinstance(e, MessageReceived)]  # (a picture's reading comes as an event too)


def replies_to(sim, message_id: int) -> list[list[dict]]:
    return [s["message"] for s in sim.sent if segment(s["message"], "reply") == {"id": str(message_id)}]


@pytest.mark.parametrize("fmt", ["array", "string"])
async def test_check_in_gets_a_reply_with_an_at_segment(sim, make_engine, fmt):
    sim.format = fmt
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        mid = await sim.member_says(GROUP, MEMBER, text("签到"))
        reply = (await wait_until(lambda: replies_to(sim, mid), "the check-in reply"))[0]
    assert segment(reply, "at") == {"qq": str(MEMBER)} and "签到成功" in texts_of(reply)


async def test_both_message_formats_parse_to_the_same_event(sim, make_engine):
    engine = await make_engine()
    events = record_events(engine)
    segments = [{"type": "reply", "data": {"id": "42"}}, {"type": "at", "data": {"qq": str(ADMIN)}},
                {"type": "text", "data": {"text": " a[1],&b "}}, {"type": "face", "data": {"id": "14"}},
                {"type": "image", "data": {"file": "x.jpg", "url": "http://h/x.jpg?a=1,b=2"}}]
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        for fmt in ("array", "string"):
            sim.format = fmt
            await sim.member_says(GROUP, MEMBER, segments)
        await wait_until(lambda: len(messages(events)) == 2, "both messages handled")
    events = messages(events)
    array, string = (e.model_dump(exclude={"id", "at"}) for e in events)
    assert array == string
    assert (events[0].text, events[0].kind, events[0].mentions, events[0].reply_to) == ("a[1],&b", "image", (str(ADMIN),), "42")


async def test_a_members_admin_command_is_refused(sim, make_engine):
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        mid = await sim.member_says(GROUP, MEMBER, text("/set checkin base_points 5"))
        reply = (await wait_until(lambda: replies_to(sim, mid), "the refusal"))[0]
    assert "只有管理员可以使用" in texts_of(reply)
    assert engine.rulebook.effective("checkin", f"qq:{GROUP}").base_points == 10


async def test_join_request_with_the_answer_is_approved_through_its_flag(sim, make_engine, rules_dir, tmp_path, extra_plugin):
    engine = await make_engine(join_gate_rules(tmp_path, extra_plugin, rules_dir, "公众号"))
    events = record_events(engine)
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        flag = await sim.request_join(GROUP, NEWCOMER, "从公众号来的")
        await wait_until(lambda: any(e.name == "member_joined" for e in events), "the newcomer joined")
    assert ("set_group_add_request", {"flag": flag, "sub_type": "add", "type": "add", "approve": True}) in sim.calls
    assert NEWCOMER in sim.groups[GROUP] and adapter.unconfirmed == []


async def test_an_ok_that_does_nothing_is_reported(sim, make_engine, rules_dir, tmp_path, extra_plugin, caplog):
    sim.faults.noop.add("set_group_add_request")
    engine = await make_engine(join_gate_rules(tmp_path, extra_plugin, rules_dir, "公众号"))
    async with running(engine, await forward(sim, confirm_seconds=0.3), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.request_join(GROUP, NEWCOMER, "公众号")
        await wait_until(lambda: adapter.unconfirmed, "the silent ok was noticed")
    assert NEWCOMER not in sim.groups[GROUP]
    assert f"approving {NEWCOMER} in group {GROUP} was answered ok, but no group_increase notice came" in caplog.text


async def test_no_mute_for_a_member_the_simulator_reports_as_admin(sim, make_engine, caplog):
    sim.faults.stale_roles[(GROUP, ADMIN)] = "member"  # events and cached info still say member
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.member_says(GROUP, ADMIN, text("hello"))
        await wait_until(lambda: events, "the message handled")
        assert events[0].role == "member"  # the stale role the event carried
        for action in (MuteMember(platform="qq", group=str(GROUP), user=str(ADMIN), seconds=600),
                       KickMember(platform="qq", group=str(GROUP), user=str(OWNER))):
            engine.outbox.submit([action])
        await engine.outbox.drain()
    assert [a for a, _ in sim.calls if a in ("set_group_ban", "set_group_kick")] == []
    assert f"refused to mute {ADMIN} in group {GROUP}: they are admin there" in caplog.text
    assert f"refused to kick {OWNER} in group {GROUP}: they are owner there" in caplog.text


async def test_a_mute_waits_for_late_member_info_and_silences_the_member(sim, make_engine):
    sim.faults.late_member_info[(GROUP, MEMBER)] = 2
    engine = await make_engine()
    async with running(engine, await forward(sim, member_info_retry_seconds=0.05), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        # Info is late right after a join (only then is it waited for: tests/test_final_failures.py).
        await sim.post({"post_type": "notice", "notice_type": "group_increase", "sub_type": "approve",
                        "group_id": GROUP, "user_id": MEMBER, "operator_id": OWNER})
        await wait_until(lambda: adapter._joined_recently(str(GROUP), str(MEMBER)), "the join seen")
        engine.outbox.submit([MuteMember(platform="qq", group=str(GROUP), user=str(MEMBER), seconds=600)])
        await engine.outbox.drain()
        assert ("set_group_ban", {"group_id": GROUP, "user_id": MEMBER, "duration": 600}) in sim.calls
        assert await sim.member_says(GROUP, MEMBER, text("still here?")) is None  # the ban took effect
        await wait_until(lambda: not adapter._waiting, "the group_ban notice confirmed the mute")
    assert adapter.unconfirmed == []


async def test_a_dropped_connection_comes_back_and_resent_events_are_handled_once(sim, make_engine):
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        first = await sim.member_says(GROUP, MEMBER, text("签到"))
        await wait_until(lambda: replies_to(sim, first), "the first reply")
        await sim.drop_connections(resend_last=1)
        await wait_until(lambda: sim.connects == 2 and adapter.connections, "reconnected")
        second = await sim.member_says(GROUP, ADMIN, text("签到"))
        await wait_until(lambda: replies_to(sim, second), "the reply after reconnecting")
    assert len(replies_to(sim, first)) == 1
    assert [e.id for e in events] == [str(first), str(second)]


async def test_duplicate_events_are_handled_once(sim, make_engine):
    sim.faults.duplicate_events = True
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        first = await sim.member_says(GROUP, MEMBER, text("签到"))
        second = await sim.member_says(GROUP, ADMIN, text("签到"))
        await wait_until(lambda: replies_to(sim, second), "the second reply")
    assert [e.id for e in events] == [str(first), str(second)]
    assert len(replies_to(sim, first)) == 1


async def test_reverse_ws_refuses_missing_and_wrong_tokens_and_serves_the_right_one(sim, make_engine):
    engine = await make_engine()
    config = QQConfig(reverse=ReverseServer(port=0, path="/onebot/v11/ws"), token_env=TOKEN_ENV)
    async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.reverse_port, "listening")
        url = f"ws://127.0.0.1:{adapter.reverse_port}/onebot/v11/ws"
        for token, status in (("wrong", 403), ("", 401)):
            with pytest.raises(InvalidStatus) as refused:
                await sim.connect_reverse(url, token=token)
            assert refused.value.response.status_code == status
        assert adapter.connections == {}
        await sim.connect_reverse(url)
        await wait_until(lambda: adapter.connections and sim.connected.is_set(), "the right token connected")
        mid = await sim.member_says(GROUP, MEMBER, text("签到"))
        reply = (await wait_until(lambda: replies_to(sim, mid), "the reply over reverse WS"))[0]
    assert segment(reply, "at") == {"qq": str(MEMBER)}


async def test_a_wrong_forward_token_stops_the_start_with_one_line(sim, make_engine):
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: "wrong"}) as (_, task):
        with pytest.raises(AdapterStartError, match="HTTP 403 .wrong or missing access token"):
            await task


async def test_two_accounts_each_answer_their_own_group(sim, make_engine):
    other = OneBotSim(self_id=20000, token=TOKEN)
    other.add_group(800001, {MEMBER: "member"})
    config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward()),
                               ForwardConnection(url=await other.start_forward())], token_env=TOKEN_ENV)
    engine = await make_engine()
    try:
        async with running(engine, config, {TOKEN_ENV: TOKEN}) as (adapter, _):
            await wait_until(lambda: len(adapter.connections) == 2, "both accounts connected")
            mid = await other.member_says(800001, MEMBER, text("签到"))
            await wait_until(lambda: replies_to(other, mid), "the reply through the second account")
    finally:
        await other.stop()
    assert sim.sent == []


async def test_refusals_and_malformed_events_are_logged_not_fatal(sim, make_engine, caplog):
    sim.faults.unsupported.add("set_group_card")
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.post({"post_type": "message", "message_type": "group", "group_id": GROUP, "message": 5})
        engine.outbox.submit([SetCard(platform="qq", group=str(GROUP), user=str(MEMBER), card="上海-小王")])
        await engine.outbox.drain()
        mid = await sim.member_says(GROUP, MEMBER, text("签到"))
        await wait_until(lambda: replies_to(sim, mid), "the next message is still answered")
    assert [e.id for e in events] == [str(mid)] and isinstance(events[0], MessageReceived)
    assert "skipped a malformed message event" in caplog.text
    assert "set_group_card failed: action not supported by this implementation (1404)" in caplog.text


async def test_a_peer_silent_for_three_heartbeats_is_reconnected(sim, make_engine):
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await sim.post({"post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 100,
                        "status": {"online": True, "good": True}})
        await wait_until(lambda: sim.connects == 2 and adapter.connections, "reconnected after the silence")
        mid = await sim.member_says(GROUP, MEMBER, text("签到"))
        await wait_until(lambda: replies_to(sim, mid), "the reply on the new connection")


async def test_a_file_goes_up_as_a_group_file_after_its_text(sim, make_engine, tmp_path):
    from bot.model import SendMessage

    export = tmp_path / "members.csv"
    export.write_text("成员ID,昵称\n1003,小王\n", encoding="utf-8-sig")
    engine = await make_engine()
    async with running(engine, await forward(sim), {TOKEN_ENV: TOKEN}) as (adapter, _):
        await wait_until(lambda: adapter.connections, "connected")
        await adapter.perform(SendMessage(platform="qq", group=str(GROUP), text="成员名单", file=str(export)))
    assert texts_of(sim.sent[-1]["message"]) == "成员名单"
    assert sim.files == [{"group_id": GROUP, "name": "members.csv", "content": export.read_bytes()}]
