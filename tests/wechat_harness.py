"""Harness for the WeChat end-to-end tests: our puppet-service gateway (tests/wechat_peer/gateway.js:
wechaty-puppet-service's PuppetServer over wechaty-puppet-mock) on free loopback ports, and the real
adapter and engine connected to it; plus two small test-only plugins standing in for the welcome and
anti-ad plugins (a welcome on MemberJoined, a warn/warn/kick ladder on a keyword)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
from pathlib import Path

import httpx

from bot.bus import Plugin
from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import Event, KickMember, MemberJoined, MemberLeft, MessageReceived, MuteMember, SendMessage
from bot.rules import PluginRules
from tests.node_peer import NodePeer, free_port
from tests.telegram_harness import eventually

PEER_DIR = Path(__file__).resolve().parent / "wechat_peer"
TOKEN = "qunbot-test-token-3f9a"
BOT = {"id": "wxid_qunbot", "name": "Qunbot"}
OWNER, ADMIN, MEMBER, OTHER = "wxid_owner", "wxid_admin", "wxid_xiaowang", "wxid_xiaoli"
OWNED, FOREIGN = "100001@chatroom", "100002@chatroom"  # the bot owns the first room, not the second
WORLD = {
    "self": BOT,
    "contacts": [{"id": OWNER, "name": "群主"}, {"id": ADMIN, "name": "管理员"}, {"id": MEMBER, "name": "小王"},
                 {"id": OTHER, "name": "小李"}, {"id": "wxid_newbie", "name": "新人"}],
    "rooms": [{"id": OWNED, "topic": "机器人的群", "ownerId": BOT["id"], "memberIds": [ADMIN, MEMBER, OTHER]},
              {"id": FOREIGN, "topic": "别人的群", "ownerId": OWNER, "memberIds": [OWNER, MEMBER, OTHER]}],
}


class Gateway:
    """The running gateway process: gRPC on ``grpc_port``, the control API on ``control_port``."""

    def __init__(self, tmp_path: Path, token: str = TOKEN):
        self.world = tmp_path / "world.json"
        self.world.write_text(json.dumps(WORLD, ensure_ascii=False), encoding="utf-8")
        self.token = token
        self.grpc_port, self.control_port = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{self.grpc_port}"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.control_port}", timeout=10)
        self.log = tmp_path / "gateway.log"
        self.journal_file = tmp_path / "gateway-calls.jsonl"  # every process's calls, a killed one's included
        env = {"GATEWAY_TOKEN": token, "WECHATY_LOG": "warn", "GATEWAY_JOURNAL": str(self.journal_file)}
        self.node = NodePeer(PEER_DIR, "gateway.js", [str(self.grpc_port), str(self.control_port), str(self.world)],
                             self.grpc_port, env, self.log,
                             package="wechaty-puppet-service")
        self.start()

    @property
    def proc(self):
        return self.node.proc

    def start(self) -> None:
        self.node.start()

    def stop(self) -> None:
        """Kill the process (no goodbye to the client: as when a server dies)."""
        self.node.kill()

    def restart(self) -> None:
        """Kill the process and start a new one on the same ports (a new world: the recorded calls start empty)."""
        self.node.restart()

    def _call(self, verb: str, path: str, **body):
        answer = self.http.request(verb, path, json=body or None)
        data = answer.json()
        if answer.status_code != 200:
            raise AssertionError(f"gateway {path}: {data.get('error')}")
        return data["result"]

    def say(self, room: str | None, user: str, text: str = "", type: str = "Text", mentions=(), id: str | None = None) -> str:
        """A member speaks; with ``id``, a message delivered again (the same id, as a re-syncing provider does)."""
        extra = {"id": id} if id else {}
        return self._call("POST", "/say", room=room, **{"from": user}, text=text, type=type, mentions=list(mentions),
                          **extra)["id"]

    def send_picture(self, room: str, user: str, data: bytes, box: str = "stream", text: str = "") -> str:
        """A member sends a picture message; ``box`` is how messageImage hands it out (gateway.js: stream,
        base64, url, refuse, hang); ``text`` what the puppet puts in its text (some put the picture's XML)."""
        return self._call("POST", "/say", room=room, **{"from": user}, type="Image", text=text,
                          image=base64.b64encode(data).decode(), box=box)["id"]

    def slow(self, method: str, room: str, seconds: float) -> None:
        """Answer ``method`` (roomPayload or messageSendText) for ``room`` only after ``seconds``."""
        self._call("POST", "/slow", method=method, room=room, ms=int(seconds * 1000))

    def crash_after(self, method: str) -> None:
        """The process dies right after carrying out the next call of ``method``, before answering it."""
        self._call("POST", "/crash_after", method=method)

    def journal(self, method: str) -> list[dict]:
        """The calls of ``method`` made to any process of this gateway (killed ones included)."""
        if not self.journal_file.exists():
            return []
        lines = self.journal_file.read_text(encoding="utf-8").splitlines()
        return [c["args"] for c in map(json.loads, lines) if c["method"] == method]

    def join(self, room: str, members: list[str], inviter: str) -> None:
        self._call("POST", "/join", room=room, members=members, inviter=inviter)

    def leave(self, room: str, members: list[str]) -> None:
        self._call("POST", "/leave", room=room, members=members)

    def topic(self, room: str, topic: str, by: str) -> None:
        self._call("POST", "/topic", room=room, topic=topic, by=by)

    def room(self, room: str) -> dict:
        return self.http.get("/room", params={"id": room}).json()["result"]

    def inert(self, method: str) -> None:
        """Make ``method`` answer ok without doing anything."""
        self._call("POST", "/inert", method=method)

    def emit(self, event: str, payload) -> None:
        self._call("POST", "/emit", event=event, payload=payload)

    def streams(self) -> int:
        """How many event streams this gateway process has seen opened, while one is attached (else 0).
        Events emitted while none is attached are lost, by the protocol's design."""
        return self._call("GET", "/streaming")

    def calls(self, method: str | None = None, timed: bool = False) -> list[dict]:
        """The bot's calls of ``method`` (their arguments; with ``timed``, also ``at`` in milliseconds)."""
        return [{**c["args"], "at": c["at"]} if timed else c["args"] for c in self._call("GET", "/calls")
                if method is None or c["method"] == method]

    def sent(self, room: str) -> list[dict]:
        return [c for c in self.calls("messageSendText") if c["conversationId"] == room]


class StandInRules(PluginRules):
    pass


def stand_ins(seen: list[Event], keyword: str = "加我微信", warnings: int = 2) -> Plugin:
    """Records every event; welcomes newcomers; warns an ad (a mute, which WeChat turns into a warning)
    ``warnings`` times, then removes the member (a kick: a removal where the bot owns the room)."""
    plugin = Plugin("wx_stand_ins", StandInRules, priority=5)
    offences: dict[tuple[str, str], int] = {}

    @plugin.on(MessageReceived)
    async def scan(ctx):
        ev = ctx.event
        seen.append(ev)
        if keyword not in ev.text:
            return None
        count = offences[(ev.group, ev.user)] = offences.get((ev.group, ev.user), 0) + 1
        common = dict(platform=ev.platform, group=ev.group, user=ev.user, plugin="wx_stand_ins")
        if count <= warnings:
            return MuteMember(**common, seconds=600, reason=f"offence_{count}")
        return KickMember(**common, reason="too_many_offences")

    @plugin.on(MemberJoined)
    async def greet(ctx):
        ev = ctx.event
        seen.append(ev)
        return SendMessage(platform=ev.platform, group=ev.group, text="欢迎新朋友！", mentions=(ev.user,),
                           plugin="wx_stand_ins", reason="welcome")

    @plugin.on(MemberLeft)
    async def record(ctx):
        seen.append(ctx.event)

    return plugin


@contextlib.asynccontextmanager
async def running_bot(gateway: Gateway, tmp_path: Path, extra_plugin, seen: list[Event] | None = None, **config):
    """The engine with the shipped rules plus the stand-ins, and the WeChat adapter connected to the gateway."""
    from bot.adapters.wechat.adapter import WechatAdapter

    rules = tmp_path / "rules"
    if not rules.exists():
        shutil.copytree(SHIPPED_RULES, rules)
        (rules / "wx_stand_ins.toml").write_text("", encoding="utf-8")
    extra_plugin("wx_stand_ins", stand_ins(seen if seen is not None else []))
    wechat = {"endpoint": gateway.endpoint, "reconnect_max_seconds": 2, **config.pop("wechat", {})}
    qc = QunbotConfig.model_validate({"adapters": ["wechat"], "wechat": wechat, **config})
    engine = await Engine.create(qc, rules, db_url=f"sqlite:///{tmp_path / 'wx.sqlite'}", platforms={"wechat"})
    adapter = WechatAdapter(qc.wechat, environ={"QUNBOT_WECHAT_TOKEN": gateway.token})
    engine.adapters["wechat"] = adapter
    await adapter.connect()
    task = asyncio.create_task(adapter.run(engine))
    try:
        await eventually(lambda: adapter.translator.self_id or task.done(), "the bot's login")
        if task.done():
            task.result()
        yield engine, adapter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.close()
