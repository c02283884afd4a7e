"""Nothing lost, nothing doubled: `qunbot run` killed with SIGKILL again and again in the middle of check-ins,
join requests, newcomers' quizzes and a due morning post, then started again on the same SQLite file,
with the QQ peer (our OneBot v11 simulator) sending again every event whose answer it has not seen: a
check-in nobody answered, a join request nobody decided (with another time, as platforms do), a join
whose newcomer was not asked the question.

Every life adds a group whose morning post is due at once, and kills the bot a random moment after the
burst of events. At the end: every check-in stored once and answered, never "签到成功" twice; every
join request decided, never both ways; every newcomer asked the question, and none removed before being
asked; every morning post sent exactly once.

The suite runs a few kills; the checked run is twenty: ``QUNBOT_CRASH_KILLS=20 pytest tests/test_staying_outbox.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from tests.onebot_sim import Member, OneBotSim
from tests.qq_harness import segment, texts_of, wait_until
from tests.test_staying_crash import qunbot, query, text, write_setup

KILLS = int(os.environ.get("QUNBOT_CRASH_KILLS", "3"))
CHAT, POSTS = 710200, 710300  # POSTS + life: one posts group per life
CHECKINS, REQUESTS, NEWCOMERS = 4, 2, 2  # per life
QUESTION, CHECKED, ALREADY = "入群前请先回答", "签到成功", "已经签过到"


class Peer:
    """The platform's memory: what it posted, and which of it has been answered (what it sends again)."""

    def __init__(self, sim: OneBotSim):
        self.sim = sim
        self.checkins: dict[int, dict] = {}  # member -> the 签到 message event
        self.requests: dict[str, dict] = {}  # flag -> the request event
        self.joins: dict[int, dict] = {}  # newcomer -> the group_increase event
        self.next_user = iter(range(20001, 30000))

    def to(self, user: int) -> list[str]:
        """Texts of the bot's messages in the chat group that mention ``user``."""
        return [texts_of(m["message"]) for m in self.sim.sent if m["group_id"] == CHAT
                and (at := segment(m["message"], "at")) and int(at["qq"]) == user]

    def decisions(self, flag: str) -> list[bool]:
        return [p.get("approve", True) for a, p in self.sim.calls if a == "set_group_add_request" and p.get("flag") == flag]

    def kicked(self) -> list[int]:
        return [p["user_id"] for a, p in self.sim.calls if a == "set_group_kick" and p.get("group_id") == CHAT]

    def unanswered(self) -> list[dict]:
        kicked = set(self.kicked())
        out = [e for u, e in self.checkins.items() if not any(CHECKED in t or ALREADY in t for t in self.to(u))]
        out += [{**e, "time": int(time.time())} for f, e in self.requests.items() if not self.decisions(f)]
        out += [e for u, e in self.joins.items() if u not in kicked and not any(QUESTION in t for t in self.to(u))]
        return out

    async def burst(self) -> None:
        sim = self.sim
        for _ in range(CHECKINS):
            user = next(self.next_user)
            sim.groups[CHAT][user] = Member("member", nickname=f"u{user}")
            await sim.member_says(CHAT, user, text("签到"))
            self.checkins[user] = sim._posted[-1]
        for i in range(REQUESTS):
            flag = await sim.request_join(CHAT, next(self.next_user), "公众号" if i % 2 == 0 else "随便看看")
            self.requests[flag] = sim._posted[-1]
        for _ in range(NEWCOMERS):
            user = next(self.next_user)
            sim.groups[CHAT][user] = Member("member", nickname=f"新人{user}")
            # Joined 50 s ago: the one-minute quiz ends some lives later.
            await sim.post({"time": int(time.time()) - 50, "post_type": "notice", "notice_type": "group_increase",
                            "sub_type": "approve", "group_id": CHAT, "user_id": user, "operator_id": 1001})
            self.joins[user] = sim._posted[-1]


@pytest.fixture
async def sim():
    peer = OneBotSim()
    peer.add_group(CHAT, {1001: "owner"})
    yield peer
    await peer.stop()


async def life(peer: Peer, tmp: Path, config: Path, rules: Path, number: int, kill: bool) -> asyncio.subprocess.Process:
    sim = peer.sim
    group = POSTS + number
    sim.add_group(group, {1001: "owner"})
    query(tmp / "bot.db", f"INSERT INTO groups (group_key, first_seen) VALUES ('qq:{group}', '2026-01-01 00:00:00')")
    proc = await qunbot(tmp, "run", "--config", str(config), "--rules", str(rules))
    await wait_until(lambda: sim.clients, f"life {number}: the bot connected")
    await asyncio.sleep(0.05)  # its account and groups learnt
    for event in peer.unanswered():  # the platform sends again what it saw no answer to
        await sim.post(event)
    if kill:
        await peer.burst()
        await asyncio.sleep(random.uniform(0.0, 0.3))
        proc.kill()  # SIGKILL: no cleanup, no flush, no goodbye
        await proc.wait()
        await wait_until(lambda: not sim.clients, "the connection closed")
    return proc


async def test_kill_9_again_and_again_loses_and_doubles_nothing(sim, tmp_path):
    url = await sim.start_forward()
    # Paced so that a burst's answers take a few tenths of a second: the kill lands among them.
    config, rules = write_setup(tmp_path, url, CHAT, per_second=40.0)
    upgrade = await qunbot(tmp_path, "db", "upgrade", "--config", str(config))
    assert await upgrade.wait() == 0
    peer = Peer(sim)
    for number in range(KILLS):
        await life(peer, tmp_path, config, rules, number, kill=True)
    proc = await life(peer, tmp_path, config, rules, KILLS, kill=False)
    db = tmp_path / "bot.db"
    try:
        async def settled() -> None:
            while peer.unanswered() or set(peer.joins) - set(peer.kicked()):
                for event in peer.unanswered():  # answers not seen within a second are asked for again
                    await sim.post(event)
                await asyncio.sleep(1.0)

        await asyncio.wait_for(settled(), 90)
        await asyncio.sleep(0.5)  # room for a wrong second answer to show
    finally:
        proc.terminate()
        await proc.wait()

    for user in peer.checkins:
        assert sum(CHECKED in t for t in peer.to(user)) <= 1, f"{user} told 签到成功 twice"
    rows = dict(query(db, f"SELECT user_id, count(*) FROM checkins WHERE group_key = 'qq:{CHAT}' GROUP BY user_id"))
    assert {int(u): n for u, n in rows.items()} == {u: 1 for u in peer.checkins}, "a check-in lost or doubled"
    for flag in peer.requests:
        assert len(set(peer.decisions(flag))) == 1, f"request {flag} undecided or decided both ways"
    for user in peer.joins:  # in the order the platform took the calls: asked first, removed after
        asked = [i for i, (a, p) in enumerate(sim.calls) if a == "send_group_msg" and p["group_id"] == CHAT
                 and isinstance(p["message"], list) and (at := segment(p["message"], "at")) and int(at["qq"]) == user
                 and QUESTION in texts_of(p["message"])]
        removed = [i for i, (a, p) in enumerate(sim.calls) if a == "set_group_kick" and p.get("user_id") == user]
        assert asked and removed and asked[0] < removed[0], f"newcomer {user} removed without the question"
    kicks = peer.kicked()
    assert sorted(set(kicks)) == sorted(peer.joins), "every newcomer who never answered is removed"
    for group in range(POSTS, POSTS + KILLS + 1):
        posts = [m for m in sim.sent if m["group_id"] == group]
        assert len(posts) == 1 and "早上好" in texts_of(posts[0]["message"]), f"group {group}: {len(posts)} posts"
    assert query(db, "SELECT count(*) FROM outbox WHERE state < 2") == [(0,)]
