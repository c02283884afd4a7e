"""Nothing lost, nothing doubled: `qunbot run` killed with SIGKILL again and again in the middle of check-ins,
join requests, newcomers' quizzes and a due morning post, then started again on the same SQLite file,
with the QQ peer (our OneBot v11 simulator) sending again every event whose answer it has not seen: a
check-in nobody answered, a join request nobody decided (with another time, as platforms do), a join
whose newcomer was not asked the question.

Every life adds a group whose morning post is due at once, and kills the bot a random moment after the
burst of events. At the end: every check-in stored once and answered, never "签到成功" twice; every
join request decided, never both ways; every newcomer asked the question, and none removed before being
asked; every morning post sent exactly once. The test prints these figures (``pytest -s``).

On PostgreSQL (QUNBOT_TEST_PG_URL) each life is a new replica: it takes the chat group over once the
killed life's lease has expired, and the burst waits for that.

The suite runs a few kills; the checked run is twenty: ``QUNBOT_CRASH_KILLS=20 pytest -s tests/test_staying_outbox.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from tests.conftest import PG_URL, wipe_pg
from tests.onebot_sim import Member, OneBotSim
from tests.qq_harness import segment, texts_of, wait_until
from tests.staying_harness import join, query, qunbot, sqlite_url, text, write_setup

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
        self.dead: set[str] = set()  # PostgreSQL: the lease owners killed so far

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
            # Joined 50 s ago: the one-minute quiz ends some lives later.
            self.joins[user] = await join(sim, CHAT, user, seconds_ago=50)


@pytest.fixture
async def sim():
    peer = OneBotSim()
    peer.add_group(CHAT, {1001: "owner"})
    yield peer
    await peer.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path) -> str:
    """The SQLite file of every life, or the (wiped) test PostgreSQL, where each life is a new replica
    that answers the chat group only once the killed one's lease has expired."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    if not PG_URL:
        pytest.skip("QUNBOT_TEST_PG_URL is not set")
    await wipe_pg()
    return PG_URL


LEASE = 2.0  # seconds, on PostgreSQL: how long a killed life holds the chat group


async def chat_owner(db: str) -> str | None:
    """The live process holding the chat group's lease (PostgreSQL)."""
    rows = await query(db, "SELECT l.owner FROM leases AS l JOIN lease_owners AS o ON o.owner = l.owner"
                           f" WHERE l.key = 'group:qq:{CHAT}' AND o.expires_at > now()")
    return rows[0][0] if rows else None


async def life(peer: Peer, tmp: Path, db: str, config: Path, rules: Path, number: int, kill: bool) -> asyncio.subprocess.Process:
    sim = peer.sim
    group = POSTS + number
    sim.add_group(group, {1001: "owner"})
    await query(db, f"INSERT INTO groups (group_key, first_seen) VALUES ('qq:{group}', '2026-01-01 00:00:00')")
    proc = await qunbot(tmp, "run", "--config", str(config), "--rules", str(rules))
    await wait_until(lambda: sim.clients, f"life {number}: the bot connected")
    await asyncio.sleep(0.05)  # its account and groups learnt
    if peer.dead and await query(db, f"SELECT 1 FROM groups WHERE group_key = 'qq:{CHAT}'"):
        # A replica on PostgreSQL: it watches the chat group silently until the killed one's lease expires.
        # The kill is to land while this life answers, not while it only watches.
        end = time.monotonic() + LEASE + 10
        while (owner := await chat_owner(db)) is None or owner in peer.dead:
            assert time.monotonic() < end, f"life {number}: the chat group never taken over"
            await asyncio.sleep(0.1)
    for event in peer.unanswered():  # the platform sends again what it saw no answer to
        await sim.post(event)
    if kill:
        await peer.burst()
        await asyncio.sleep(random.uniform(0.0, 0.3))
        proc.kill()  # SIGKILL: no cleanup, no flush, no goodbye
        await proc.wait()
        await wait_until(lambda: not sim.clients, "the connection closed")
        if db.startswith("postgresql") and (owner := await chat_owner(db)):
            peer.dead.add(owner)
    return proc


async def test_kill_9_again_and_again_loses_and_doubles_nothing(sim, database, tmp_path):
    url = await sim.start_forward()
    db = database
    pg = db.startswith("postgresql")
    # Paced so that a burst's answers take a few tenths of a second: the kill lands among them.
    config, rules = write_setup(tmp_path, url, CHAT, per_second=40.0, database_url=db, lease_seconds=LEASE if pg else None)
    upgrade = await qunbot(tmp_path, "db", "upgrade", "--config", str(config))
    assert await upgrade.wait() == 0
    peer = Peer(sim)
    for number in range(KILLS):
        await life(peer, tmp_path, db, config, rules, number, kill=True)
    proc = await life(peer, tmp_path, db, config, rules, KILLS, kill=False)
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

    # The figures first (README, issue 20), then the same facts one by one.
    rows = {int(u): n for u, n in await query(db, f"SELECT user_id, count(*) FROM checkins WHERE group_key = 'qq:{CHAT}' GROUP BY user_id")}
    asked_at = {user: [i for i, (a, p) in enumerate(sim.calls) if a == "send_group_msg" and p["group_id"] == CHAT
                       and isinstance(p["message"], list) and (at := segment(p["message"], "at")) and int(at["qq"]) == user
                       and QUESTION in texts_of(p["message"])] for user in peer.joins}
    removed_at = {user: [i for i, (a, p) in enumerate(sim.calls) if a == "set_group_kick" and p.get("user_id") == user]
                  for user in peer.joins}
    answers = lambda user: [t for t in peer.to(user) if CHECKED in t or ALREADY in t]  # noqa: E731
    posts = {group: [m for m in sim.sent if m["group_id"] == group] for group in range(POSTS, POSTS + KILLS + 1)}
    print(f"\n{'PostgreSQL' if pg else 'SQLite'}: {KILLS} kills;"
          f" check-ins {len(peer.checkins)}: lost {sum(u not in rows for u in peer.checkins)},"
          f" doubled {sum(n > 1 for n in rows.values()) + sum(sum(CHECKED in t for t in peer.to(u)) > 1 for u in peer.checkins)},"
          f" answered more than once {sum(len(answers(u)) > 1 for u in peer.checkins)}"
          f" ({sum(len(answers(u)) for u in peer.checkins)} answers);"
          f" join requests {len(peer.requests)}: undecided {sum(not peer.decisions(f) for f in peer.requests)},"
          f" decided both ways {sum(len(set(peer.decisions(f))) > 1 for f in peer.requests)},"
          f" decided again the same way {sum(len(peer.decisions(f)) > 1 for f in peer.requests)};"
          f" newcomers {len(peer.joins)}: asked {sum(bool(asked_at[u]) for u in peer.joins)},"
          f" removed {sum(bool(removed_at[u]) for u in peer.joins)},"
          f" removed without the question {sum(bool(removed_at[u]) and not (asked_at[u] and asked_at[u][0] < removed_at[u][0]) for u in peer.joins)};"
          f" morning posts due {len(posts)}: sent once {sum(len(p) == 1 for p in posts.values())},"
          f" never {sum(not p for p in posts.values())}, more than once {sum(len(p) > 1 for p in posts.values())}")

    for user in peer.checkins:
        assert sum(CHECKED in t for t in peer.to(user)) <= 1, f"{user} told 签到成功 twice"
        # One 签到, sent again by the platform as often as it saw no answer: one answer, not "签到成功" and
        # "已经签过到" (the same message is not a second check-in).
        assert len(answers(user)) == 1, f"{user}'s one 签到 answered {len(answers(user))} times: {answers(user)}"
    assert rows == {u: 1 for u in peer.checkins}, "a check-in lost or doubled"
    for flag in peer.requests:
        assert len(set(peer.decisions(flag))) == 1, f"request {flag} undecided or decided both ways"
    for user in peer.joins:  # in the order the platform took the calls: asked first, removed after
        asked, removed = asked_at[user], removed_at[user]
        assert asked and removed and asked[0] < removed[0], f"newcomer {user} removed without the question"
    kicks = peer.kicked()
    assert sorted(set(kicks)) == sorted(peer.joins), "every newcomer who never answered is removed"
    for group, sent in posts.items():
        assert len(sent) == 1 and "早上好" in texts_of(sent[0]["message"]), f"group {group}: {len(sent)} posts"
    assert await query(db, "SELECT count(*) FROM outbox WHERE state < 2") == [(0,)]
