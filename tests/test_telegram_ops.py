"""The Telegram adapter's other actions, missing rights, start-up errors, webhook mode and reconnecting,
against the same telegram-test-api peer as test_telegram.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import tomllib

import pytest

from tests.conftest import ROOT
from tests.telegram_harness import TOKEN, Peer, eventually, free_port, running_bot, user
from tests.test_telegram import ADMIN, G, MEMBER, OTHER, group, replies


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


async def test_kick_is_ban_then_unban_only_if_banned(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, ADMIN, f"!kick {OTHER}")
        await eventually(lambda: peer.calls("unbanChatMember"), "the unban")
    assert [c["method"] for c in peer.calls() if "ChatMember" in c["method"]] == ["banChatMember", "unbanChatMember"]
    assert peer.calls("unbanChatMember")[0]["params"]["only_if_banned"] == "true"
    assert peer.state(G)["members"][str(OTHER)]["status"] == "left"  # gone, and free to come back
    assert peer.say(G, OTHER, "我回来了")["status"] == 403


async def test_delete_a_message(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        ad = peer.say(G, OTHER, "加我微信 abc")["result"]
        peer.say(G, ADMIN, f"!del {ad['message_id']}")
        await eventually(lambda: peer.state(G)["messages"][str(ad["message_id"])]["deleted"], "the deletion")


async def test_nickname_uses_member_tags_where_the_bot_may_else_reminds(peer, tmp_path, extra_plugin):
    group(peer, bot_rights={"can_manage_chat": True, "can_manage_tags": True, "can_restrict_members": True})
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, MEMBER, f"!card {MEMBER} 上海-电商-小王")
        await eventually(lambda: peer.state(G)["members"][str(MEMBER)]["tag"] == "上海-电商-小王", "the tag")
    assert not peer.sent(G)


async def test_without_the_tag_right_a_nickname_rule_becomes_a_reminder(peer, tmp_path, extra_plugin):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, MEMBER, f"!card {MEMBER} 上海-电商-小王")
        [reminder] = await replies(peer)
    assert "上海-电商-小王" in reminder["text"] and not peer.calls("setChatMemberTag")


async def test_a_missing_admin_right_is_reported_to_the_log_and_the_admin_log_chat(peer, tmp_path, extra_plugin, caplog):
    admin_log = -1002000000002
    group(peer, bot_rights={"can_manage_chat": True})
    peer.chat(admin_log, [{"user": user(ADMIN, "Ada"), "status": "creator"}])
    async with running_bot(peer, tmp_path, extra_plugin, admin_log=f"telegram:{admin_log}") as (engine, _):
        peer.say(G, ADMIN, f"!mute {MEMBER} 600")
        [report] = await replies(peer, chat=admin_log)
        peer.say(G, MEMBER, "签到")  # the bot keeps working
        await replies(peer)
    assert "lacks the admin right can_restrict_members" in report["text"] and "Not enough rights" in report["text"]
    assert "can_restrict_members" in caplog.text
    assert peer.state(G)["members"][str(MEMBER)]["status"] == "member"


async def test_webhook_mode_with_a_secret_token(peer, tmp_path, extra_plugin, monkeypatch):
    port = free_port()
    monkeypatch.setenv("QUNBOT_TG_SECRET", "s3cret-value")
    webhook = {"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_port": port,
               "webhook_path": "hook", "webhook_secret_env": "QUNBOT_TG_SECRET"}
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin, telegram=webhook, environ={"QUNBOT_TG_SECRET": "s3cret-value"}):
        peer.say(G, MEMBER, "签到")
        [reply] = await replies(peer)
    assert "签到成功" in reply["text"]
    [hook] = peer.calls("setWebhook")
    assert hook["params"]["secret_token"] == "s3cret-value" and hook["params"]["url"].endswith("/hook")
    assert not peer.calls("getUpdates")


async def test_reconnects_with_backoff_when_the_server_goes_away(peer, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.INFO, logger="bot.adapters.telegram")
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        port = peer.port
        peer.stop()
        await eventually(lambda: "reconnecting in 2s" in caplog.text, "a second failed getUpdates, after a longer wait")
        again = Peer(port=port)
        try:
            group(again)
            again.say(G, MEMBER, "签到")
            [reply] = await replies(again, timeout=30)
        finally:
            again.stop()
    assert "签到成功" in reply["text"] and "connection restored" in caplog.text


def run_cli(tmp_path, base_url: str, token: str | None) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text(f'adapters = ["telegram"]\ndatabase_url = "sqlite:///{tmp_path / "q.db"}"\n'
                      f'[telegram]\nbase_url = "{base_url}"\n', encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    if token is not None:
        env["QUNBOT_TELEGRAM_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, env=env)


def test_a_bad_token_exits_with_one_line_naming_the_problem(peer, tmp_path):
    result = run_cli(tmp_path, f"{peer.url}/bot", "999:wrong-token")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"qunbot: telegram: the Bot API server at {peer.url}/bot refused the token in QUNBOT_TELEGRAM_TOKEN (Unauthorized)"]
    assert "wrong-token" not in result.stderr + result.stdout
    assert peer.calls("getMe")  # it did ask


def test_an_unreachable_server_or_a_missing_token_is_one_line_too(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/bot"
    unreachable = run_cli(tmp_path, closed, TOKEN)
    assert unreachable.returncode == 1 and len(unreachable.stderr.strip().splitlines()) == 1
    assert f"cannot reach the Bot API server at {closed}" in unreachable.stderr and TOKEN not in unreachable.stderr
    missing = run_cli(tmp_path, closed, None)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "qunbot: telegram: the environment variable QUNBOT_TELEGRAM_TOKEN (telegram.token_env) holds no bot token"


async def test_a_message_older_than_48_hours_is_not_deleted_and_is_reported(peer, tmp_path, extra_plugin, caplog):
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin) as (engine, _):
        old = peer.say(G, OTHER, "很久以前的广告", date=int(time.time()) - 49 * 3600)["result"]
        peer.say(G, ADMIN, f"!del {old['message_id']}")
        await eventually(lambda: "older than 48 h" in caplog.text, "the report")
    assert not peer.calls("deleteMessage")  # the adapter knew better than to try
    assert not peer.state(G)["messages"][str(old["message_id"])]["deleted"]


def test_the_example_config_telegram_section_is_valid_once_uncommented():
    from bot.config import QunbotConfig

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    section = text[text.index("# [telegram]"):]
    body = "\n".join(line.removeprefix("# ") for line in section.splitlines() if line.startswith("# "))
    config = QunbotConfig.model_validate({"adapters": ["telegram"], **tomllib.loads(body)})
    assert config.telegram.token_env == "QUNBOT_TELEGRAM_TOKEN" and config.telegram.mode == "polling"


async def test_an_image_is_sent_as_a_photo_with_its_caption(peer, tmp_path, extra_plugin):
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, ADMIN, f"!chart {chart}")
        [photo] = await replies(peer)
    assert photo["text"] == "本周图表 <1>" and photo["photo"][0]["file_size"] == chart.stat().st_size
    assert [c["method"] for c in peer.calls() if c["method"].startswith("send")] == ["sendPhoto"]


async def test_a_file_is_sent_as_a_document_with_its_caption(peer, tmp_path, extra_plugin):
    export = tmp_path / "members.csv"
    export.write_text("成员ID,昵称\n1,小王\n", encoding="utf-8-sig")
    group(peer)
    async with running_bot(peer, tmp_path, extra_plugin):
        peer.say(G, ADMIN, f"!attach {export}")
        [document] = await replies(peer)
    assert document["text"] == "成员名单" and document["document"]["file_size"] == export.stat().st_size
    assert document["document"]["file_name"] == "members.csv"
    assert [c["method"] for c in peer.calls() if c["method"].startswith("send")] == ["sendDocument"]


def test_only_the_telegram_package_imports_the_sdk():
    import re

    pattern = re.compile(r"^\s*(from|import)\s+telegram\b", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for folder in ("bot", "plugins") for p in (ROOT / folder).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8")) and "adapters/telegram" not in p.as_posix()]
    assert offenders == []
    assert pattern.search((ROOT / "bot/adapters/telegram/adapter.py").read_text(encoding="utf-8"))
