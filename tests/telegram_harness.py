"""Harness for the Telegram end-to-end tests: the telegram-test-api peer (tests/telegram_peer) on a free
loopback port, and the real adapter and engine running against it through ``base_url``."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

import httpx
import pytest

from bot.bus import Plugin
from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import (Action, DecideJoin, DeleteMessage, Event, JoinRequested, KickMember, MemberJoined, MemberLeft,
                       MessageReceived, MuteAll, MuteMember, SendMessage, SetCard)
from bot.rules import PluginRules
from tests.node_peer import NodePeer, free_port

PEER_DIR = Path(__file__).resolve().parent / "telegram_peer"
TOKEN = "123456:TEST-token-for-the-peer"
BOT_ID = 666000
BOT = {"id": BOT_ID, "is_bot": True, "first_name": "Qunbot Test", "username": "QunbotTestBot"}
ALL_RIGHTS = {r: True for r in ("can_manage_chat", "can_delete_messages", "can_restrict_members", "can_invite_users",
                                "can_pin_messages", "can_change_info")}


def user(uid: int, name: str | None = None) -> dict:
    return {"id": uid, "is_bot": False, "first_name": name or f"user{uid}"}


class Peer:
    """The running peer process and its HTTP endpoints. With ``state`` (a file), the peer keeps its chats,
    its unconfirmed updates and its id counters there, so a peer killed and restarted on the same port
    comes back as a real Bot API server does: with the same chats and the updates not yet confirmed."""

    def __init__(self, tokens: str = TOKEN, port: int | None = None, state: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"PEER_TOKENS": tokens, **({"PEER_STATE": str(state)} if state else {})}
        self.node = NodePeer(PEER_DIR, "peer.js", [str(self.port)], self.port, env, package="telegram-test-api")
        self.node.start()
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.names: dict[int, str] = {}

    def stop(self) -> None:
        self.node.stop()

    def kill(self) -> None:
        self.node.kill()

    def restart(self) -> None:
        """Kill the process and start a new one on the same port (the calls and sent lists start empty)."""
        self.node.restart()

    def post(self, path: str, **body) -> dict:
        answer = self.http.post(path, json=body)
        return {"status": answer.status_code, **answer.json()}

    def get(self, path: str):
        return self.http.get(path).json()["result"]

    def chat(self, chat_id: int, members: list[dict], permissions: dict | None = None, bot_rights: dict | None = None,
             is_forum: bool = False) -> None:
        self.names.update({m["user"]["id"]: m["user"]["first_name"] for m in members})
        bot = {"user": BOT, "status": "administrator", "rights": ALL_RIGHTS if bot_rights is None else bot_rights}
        self.post("/test/chat", id=chat_id, title=f"group {chat_id}", is_forum=is_forum,
                  permissions=permissions if permissions is not None else {"can_send_messages": True},
                  members=[bot, *members])

    def say(self, chat_id: int, uid: int, text: str, **fields) -> dict:
        sender = {"from": user(uid, self.names.get(uid))}
        return self.post("/test/message", chat_id=chat_id, **{**sender, **fields}, text=text)

    def state(self, chat_id: int) -> dict:
        return self.get(f"/test/chat/{chat_id}")

    def sent(self, chat_id: int | None = None) -> list[dict]:
        return [m for m in self.get("/test/sent") if chat_id is None or m["chat_id"] == chat_id]

    def calls(self, method: str | None = None) -> list[dict]:
        return [c for c in self.get("/test/calls") if method is None or c["method"] == method]


def wait_for(probe, what: str, timeout: float = 20.0):
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def eventually(probe, what: str, timeout: float = 20.0):
    """``wait_for`` for async tests: lets the bot's tasks run between polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await asyncio.to_thread(probe):
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


class ModeratorRules(PluginRules):
    pass


def moderator(seen: list[Event]) -> Plugin:
    """A test plugin: records every event, turns ``!verb args`` messages into actions, decides join requests
    (approve when the answer mentions 公众号)."""
    plugin = Plugin("tg_moderator", ModeratorRules, priority=5)

    @plugin.on(MessageReceived)
    async def command(ctx):
        seen.append(ctx.event)
        words = ctx.event.text.split()
        return order(ctx.event, words[0][1:], words[1:]) if words and words[0].startswith("!") else None

    @plugin.on(JoinRequested)
    async def decide(ctx):
        seen.append(ctx.event)
        ev = ctx.event
        return DecideJoin(platform=ev.platform, group=ev.group, request=ev.id, user=ev.user, approve="公众号" in ev.answer,
                          plugin="tg_moderator", reason="test")

    @plugin.on(MemberJoined, MemberLeft)
    async def record(ctx):
        seen.append(ctx.event)

    return plugin


def order(ev: MessageReceived, verb: str, args: list[str]) -> Action | None:
    common = dict(platform=ev.platform, group=ev.group, plugin="tg_moderator", reason=verb)
    build = {
        "mute": lambda: MuteMember(**common, user=args[0], seconds=int(args[1])),
        "quiet": lambda: MuteAll(**common, on=args[0] == "on"),
        "kick": lambda: KickMember(**common, user=args[0]),
        "del": lambda: DeleteMessage(**common, message=args[0]),
        "card": lambda: SetCard(**common, user=args[0], card=args[1]),
        "echo": lambda: SendMessage(**common, text=" ".join(args), mentions=(ev.user,)),
        "chart": lambda: SendMessage(**common, text="本周图表 <1>", image=args[0]),
        "attach": lambda: SendMessage(**common, text="成员名单", file=args[0]),
    }.get(verb)
    return build() if build else None


@contextlib.asynccontextmanager
async def running_bot(peer: Peer, tmp_path: Path, extra_plugin, seen: list[Event] | None = None, **config):
    """The engine with the shipped rules plus the test moderator, and the Telegram adapter, polling the peer."""
    from bot.adapters.telegram.adapter import TelegramAdapter

    rules = tmp_path / "rules"
    if not rules.exists():
        shutil.copytree(SHIPPED_RULES, rules)
        (rules / "tg_moderator.toml").write_text("", encoding="utf-8")
    extra_plugin("tg_moderator", moderator(seen if seen is not None else []))
    environ = {"QUNBOT_TELEGRAM_TOKEN": TOKEN, **config.pop("environ", {})}
    telegram = {"base_url": f"{peer.url}/bot", "poll_timeout": 2, "permissions_file": str(tmp_path / "perms.json"),
                **config.pop("telegram", {})}
    qc = QunbotConfig.model_validate({"adapters": ["telegram"], "telegram": telegram, **config})
    engine = await Engine.create(qc, rules, db_url=f"sqlite:///{tmp_path / 'tg.sqlite'}", platforms={"telegram"})
    adapter = TelegramAdapter(qc.telegram, environ=environ)
    engine.adapters["telegram"] = adapter
    task = asyncio.create_task(adapter.run(engine))
    try:
        started = lambda: peer.calls("getUpdates") or peer.calls("setWebhook") or task.done()  # noqa: E731
        await eventually(started, "the bot's first getUpdates or setWebhook")
        if task.done():
            task.result()
        yield engine, adapter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.close()
