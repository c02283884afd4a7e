"""Our OneBot v11 simulator (tests/onebot_sim.py) as a process of its own, so a test can kill it and
start a new one on the same port, as NapCat restarting under its supervisor.

    python -m tests.onebot_process PORT STATE_FILE [--token T] [--resend N] [--reverse URL]

The forward WebSocket is at ws://127.0.0.1:PORT/; the test steers the process through a second path,
/control (JSON requests {"op": …}, one answer each). Groups, members, every message the bot sent, the
events posted and the id counter live in STATE_FILE, written after every change, so a new process comes
back with the same groups and fresh message ids; with --resend N it posts its last N events again to its
first client (an implementation re-sending after a restart). Failures on demand: ``slow`` answers one
group's calls of an action late (others meanwhile), ``crash_after`` ends the process right after carrying
out the next call of an action, before answering it. With --reverse it also connects to the bot's
reverse WebSocket at URL, and again whenever that connection ends, as NapCat's "WebSocket client" does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus

from tests.node_peer import PeerProcess, free_port
from tests.onebot_sim import Member, OneBotSim

ROOT = Path(__file__).resolve().parent.parent
BOT = 10000  # the simulator's own account (OneBotSim's default self_id)


class ProcessSim(OneBotSim):
    def __init__(self, state: Path, token: str, resend: int):
        super().__init__(token=token)
        self.state = state
        self.slow: dict[tuple[str, int], float] = {}
        self.crash_after: set[str] = set()
        self._frames: set[asyncio.Task] = set()
        self.load()
        self.resend = self._posted[-resend:] if resend else []

    def load(self) -> None:
        data = json.loads(self.state.read_text(encoding="utf-8"))
        self.groups = {int(g): {int(u): Member(**m) for u, m in members.items()} for g, members in data["groups"].items()}
        self.sent, self._posted = data.get("sent", []), data.get("posted", [])
        self._ids = itertools.count(data.get("next_id", 5001))

    def save(self) -> None:
        next_id = next(self._ids)
        self._ids = itertools.count(next_id)
        data = {"groups": {g: {u: asdict(m) for u, m in ms.items()} for g, ms in self.groups.items()},
                "sent": self.sent, "posted": self._posted, "next_id": next_id}
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state)  # never half a file, even when killed

    async def post(self, event: dict) -> None:
        await super().post(event)
        self.save()

    async def _frame(self, ws, frame) -> None:
        task = asyncio.create_task(self._answer_late(ws, json.loads(frame)))
        self._frames.add(task)
        task.add_done_callback(self._frames.discard)

    async def _answer_late(self, ws, call: dict) -> None:
        params = call.get("params") or {}
        delay = self.slow.get((call.get("action"), params.get("group_id")), 0.0)
        if delay:
            await asyncio.sleep(delay)
        reply = self._answer(call)
        self.save()
        if call.get("action") in self.crash_after:
            os._exit(1)  # carried out and recorded, never answered
        await ws.send(json.dumps(reply))

    def _admit(self, connection, request):
        return None if request.path == "/control" else super()._admit(connection, request)

    async def route(self, ws) -> None:
        if ws.request.path != "/control":
            await self._session(ws)
            return
        async for frame in ws:
            await ws.send(json.dumps({"result": await self.control(json.loads(frame))}, ensure_ascii=False))

    async def control(self, request: dict):
        op = request.pop("op")
        if op == "say":
            return await self.member_says(request["group"], request["user"],
                                          request.get("segments") or [{"type": "text", "data": {"text": request["text"]}}])
        if op == "slow":
            self.slow[(request["action"], request["group"])] = request["seconds"]
        elif op == "crash_after":
            self.crash_after.add(request["action"])
        elif op == "status":
            return {"sent": self.sent, "connects": self.connects, "clients": len(self.clients)}
        return None


async def keep_reverse(sim: ProcessSim, url: str) -> None:
    """Stay connected to the bot's reverse WS, as an implementation's WebSocket client does."""
    while True:
        try:
            await (await sim.connect_reverse(url))
        except (OSError, InvalidStatus):
            pass
        await asyncio.sleep(0.2)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("state", type=Path)
    parser.add_argument("--token", default="")
    parser.add_argument("--resend", type=int, default=0)
    parser.add_argument("--reverse", default="")
    args = parser.parse_args()
    sim = ProcessSim(args.state, args.token, args.resend)
    async with serve(sim.route, "127.0.0.1", args.port, process_request=sim._admit):
        print(json.dumps({"ready": args.port}), flush=True)
        await (keep_reverse(sim, args.reverse) if args.reverse else asyncio.Future())


class OneBotProcess:
    """The test's side: start, kill and restart the simulator process, steer it through /control."""

    def __init__(self, tmp_path: Path, groups: dict[int, dict[int, str]], token: str = ""):
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.state = tmp_path / "onebot-state.json"
        members = {g: {u: asdict(Member(role, nickname=f"u{u}")) for u, role in {BOT: "admin", **ms}.items()}
                   for g, ms in groups.items()}
        self.state.write_text(json.dumps({"groups": members}), encoding="utf-8")
        self.token, self.log = token, tmp_path / "onebot.log"
        self.process: PeerProcess | None = None

    def start(self, resend: int = 0, reverse: str = "") -> None:
        command = [sys.executable, "-m", "tests.onebot_process", str(self.port), str(self.state), "--token", self.token,
                   "--resend", str(resend), "--reverse", reverse]
        self.process = PeerProcess(command, ROOT, self.port, log=self.log)
        self.process.start()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    async def control(self, op: str, **request):
        async with connect(f"{self.url}/control") as ws:
            await ws.send(json.dumps({"op": op, **request}))
            return json.loads(await ws.recv())["result"]

    async def say(self, group: int, user: int, text: str, segments: list[dict] | None = None) -> int:
        """A member's message: ``text``, or the OneBot ``segments`` given (a picture, a file …)."""
        return await self.control("say", group=group, user=user, text=text, segments=segments)

    def sent(self) -> list[dict]:
        """Every message the bot sent, across all processes (read from the state file: works while killed)."""
        return json.loads(self.state.read_text(encoding="utf-8")).get("sent", [])


if __name__ == "__main__":
    asyncio.run(main())
