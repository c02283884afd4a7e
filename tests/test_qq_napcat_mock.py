"""The QQ adapter against a third-party OneBot v11 peer: ncatbot5's NapCatMockServer (forward WS).

Measured facts about this peer (ncatbot5 5.0.0rc7): forward WS only; its token check reads a path that
websockets >= 14 no longer passes, so it rejects every token and runs here without one; ban, whole-ban,
card and add-request answer ok but change nothing and post no notice; unknown actions answer ok; ids
are strings in its answers.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

import pytest


def _import_napcat_mock():
    """Import the mock without its package's import-time side effects on us: ncatbot's logger writes
    files under ./logs (LOG_FILE_PATH moves them) and replaces the root logger's handlers (restored)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    os.environ.setdefault("LOG_FILE_PATH", tempfile.mkdtemp(prefix="ncatbot-logs-"))
    try:
        from ncatbot.utils.testing import mock_server
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return mock_server.NapCatMockServer, mock_server.get_standard_data


NapCatMockServer, get_standard_data = _import_napcat_mock()

from bot.adapters.qq.config import ForwardConnection, QQConfig  # noqa: E402
from tests.node_peer import free_port  # noqa: E402
from tests.qq_harness import join_gate_rules, running, segment, texts_of, wait_until  # noqa: E402

GROUP, ADMIN, MEMBER, BOT = 200001, 100001, 100002, 123456789


@pytest.fixture
async def napcat():
    server = NapCatMockServer(host="127.0.0.1", port=free_port(), initial_data=get_standard_data())
    await server.start()
    yield server
    await server.stop()


def config(server, **extra) -> QQConfig:
    return QQConfig(forward=[ForwardConnection(url=f"ws://127.0.0.1:{server.port}")], **extra)


def sent(server) -> list[list[dict]]:
    return [call["message"] for call in server.get_calls_for_action("send_group_msg")]


async def test_check_in_gets_a_reply_that_ats_the_member(napcat, make_engine):
    engine = await make_engine()
    async with running(engine, config(napcat)) as (adapter, _):
        await wait_until(lambda: adapter.connections, "the adapter connected")
        assert set(adapter.connections) == {str(BOT)}  # learnt with get_login_info
        await napcat.inject_group_message(GROUP, MEMBER, "签到", message_id="7001")
        reply = await wait_until(lambda: sent(napcat), "a reply was sent")
    message = reply[0]
    assert segment(message, "at") == {"qq": str(MEMBER)}
    assert segment(message, "reply") == {"id": "7001"}
    assert "签到成功" in texts_of(message)


async def test_a_members_admin_command_is_refused(napcat, make_engine):
    engine = await make_engine()
    async with running(engine, config(napcat)) as (adapter, _):
        await wait_until(lambda: adapter.connections, "the adapter connected")
        await napcat.inject_group_message(GROUP, MEMBER, "/set checkin base_points 5", message_id="7002")
        reply = await wait_until(lambda: sent(napcat), "a refusal was sent")
    assert "只有管理员可以使用" in texts_of(reply[0])
    assert engine.rulebook.effective("checkin", f"qq:{GROUP}").base_points == 10


async def test_join_request_with_the_answer_is_approved_by_its_flag_and_the_silent_ok_is_reported(
        napcat, make_engine, rules_dir, tmp_path, extra_plugin, caplog):
    engine = await make_engine(join_gate_rules(tmp_path, extra_plugin, rules_dir, "公众号"))
    async with running(engine, config(napcat, confirm_seconds=0.3)) as (adapter, _):
        await wait_until(lambda: adapter.connections, "the adapter connected")
        await napcat.inject_event({"post_type": "request", "request_type": "group", "sub_type": "add",
                                   "group_id": GROUP, "user_id": 300001, "comment": "我从公众号来的",
                                   "flag": "napcat-flag-1", "time": int(time.time()), "self_id": BOT})
        calls = await wait_until(lambda: napcat.get_calls_for_action("set_group_add_request"), "the request was decided")
        # This peer answers ok but never posts group_increase: the adapter notices and reports it.
        await wait_until(lambda: adapter.unconfirmed, "the missing group_increase was noticed")
    assert calls == [{"flag": "napcat-flag-1", "sub_type": "add", "type": "add", "approve": True}]
    assert "no group_increase notice came" in caplog.text
