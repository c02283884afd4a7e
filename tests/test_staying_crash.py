"""Staying power: `qunbot run` killed with SIGKILL mid-stream, then started again on the same SQLite file.

A real `qunbot` process serves the QQ adapter against our OneBot v11 simulator (tests/onebot_sim.py).
While it runs, members check in, newcomers join and owe a quiz with a deadline, and a morning post
falls due in another group whose platform stalls the post's call (received, never performed nor
answered): the post is claimed, with its message in the outbox table, but not delivered when the process
dies. After the restart no check-in is lost or doubled, the answers committed before the kill are
delivered from the outbox table, every quiz is still pending with its deadline and is enforced, and the
morning post is sent exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.onebot_sim import OneBotSim
from tests.qq_harness import segment, texts_of, wait_until
from tests.staying_harness import join, query, qunbot, sqlite_url, text, write_setup

POSTS, CHAT = 700100, 700200
MEMBERS = [2001 + i for i in range(30)]
LATE, ON_TIME = (3001, 3002), 3003  # newcomers: deadline soon after the restart / well after it


def sent_to(sim: OneBotSim, group: int) -> list[list[dict]]:
    return [s["message"] for s in sim.sent if s["group_id"] == group]


def replies(sim: OneBotSim, words: str) -> list[int]:
    """The members mentioned in messages to the chat group containing ``words``."""
    return [int(segment(m, "at")["qq"]) for m in sent_to(sim, CHAT) if words in texts_of(m) and segment(m, "at")]


@pytest.fixture
async def sim():
    peer = OneBotSim()
    peer.add_group(POSTS, {1001: "owner"})
    peer.add_group(CHAT, {1001: "owner", **{m: "member" for m in MEMBERS}})
    yield peer
    await peer.stop()


async def first_life(sim: OneBotSim, tmp: Path, config: Path, rules: Path) -> set[int]:
    """Run until the post is claimed, quizzes are out and check-ins are flowing; kill -9. Returns the
    members whose check-in was confirmed before the kill."""
    proc = await qunbot(tmp, "run", "--config", str(config), "--rules", str(rules))
    try:
        await wait_until(lambda: sim.stalled, "the morning post reaching the (stalled) platform")
        for user in LATE:
            await join(sim, CHAT, user, seconds_ago=40)  # their minute ends ~20 s from now, after the restart
        await join(sim, CHAT, ON_TIME, seconds_ago=0)
        await wait_until(lambda: len(replies(sim, "入群前请先回答")) == 3, "three quizzes")
        for user in MEMBERS[:20]:
            await sim.member_says(CHAT, user, text("签到"))
        await wait_until(lambda: len(replies(sim, "签到成功")) >= 5, "some check-ins confirmed")
    finally:
        proc.kill()  # SIGKILL: no cleanup, no flush, no goodbye
        await proc.wait()
    return set(replies(sim, "签到成功"))


async def test_kill_9_mid_stream_loses_and_doubles_nothing(sim, tmp_path):
    url = await sim.start_forward()
    # Delivery pace is not under test here: the defaults (20 a minute per group) would only slow it.
    config, rules = write_setup(tmp_path, url, CHAT)
    db = sqlite_url(tmp_path)
    upgrade = await qunbot(tmp_path, "db", "upgrade", "--config", str(config))
    assert await upgrade.wait() == 0
    await query(db, f"INSERT INTO groups (group_key, first_seen) VALUES ('qq:{POSTS}', '2026-01-01 00:00:00')")
    sim.faults.stall_groups = {POSTS}

    confirmed_before = await first_life(sim, tmp_path, config, rules)
    log = lambda: (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")[-3000:]  # noqa: E731
    assert not sent_to(sim, POSTS), "the stalled post must not have been performed"
    # The claim was committed with the post in the outbox table; the post reached the platform, unanswered.
    assert len(await query(db, f"SELECT slot FROM schedule_claims WHERE group_key = 'qq:{POSTS}'")) == 1
    assert await query(db, f"SELECT state, again FROM outbox WHERE group_key = 'qq:{POSTS}'") == [(1, 1)], "being sent, not done"
    pending = await query(db, f"SELECT user_id, started_at, deadline FROM admission_cases WHERE group_key = 'qq:{CHAT}' AND kind = 'quiz'")
    assert sorted(int(u) for u, *_ in pending) == [*LATE, ON_TIME]
    for _, started, deadline in pending:
        assert datetime.fromisoformat(deadline) - datetime.fromisoformat(started) == timedelta(minutes=1)

    sim.faults.stall_groups.clear()
    committed_before = {int(u) for (u,) in await query(db, f"SELECT user_id FROM checkins WHERE group_key = 'qq:{CHAT}'")}
    assert confirmed_before <= committed_before, "a confirmed check-in was lost"
    seen_before = len(sim.sent)
    proc = await qunbot(tmp_path, "run", "--config", str(config), "--rules", str(rules))
    try:
        await wait_until(lambda: sim.connected.is_set() and sent_to(sim, POSTS), "the morning post, after the restart")
        await sim.member_says(CHAT, ON_TIME, text("我是从公众号来的"))
        for user in MEMBERS:  # the first 20 try again, as members do when the bot did not answer
            await sim.member_says(CHAT, user, text("签到"))
        later = lambda words: [u for m in sim.sent[seen_before:] if m["group_id"] == CHAT and words in texts_of(m["message"])  # noqa: E731
                               for u in [int(segment(m["message"], "at")["qq"])]]
        # Committed check-ins get their answer from the outbox table, and the retry a "checked in already".
        await wait_until(lambda: len(later("已经签过到")) == len(committed_before) and len(set(replies(sim, "签到成功"))) == len(MEMBERS),
                         "every check-in answered once, and every retry")
        kicked = lambda: sorted(p["user_id"] for a, p in sim.calls if a == "set_group_kick")  # noqa: E731
        await wait_until(lambda: kicked() == list(LATE), f"the late newcomers removed after the restart\n{log()}", guard=45)
        await asyncio.sleep(0.5)  # room for a wrong second post or kick to show
    finally:
        proc.terminate()
        await proc.wait()

    assert len(sent_to(sim, POSTS)) == 1 and "早上好" in texts_of(sent_to(sim, POSTS)[0])
    assert await query(db, "SELECT count(*) FROM schedule_claims WHERE sent_at IS NULL") == [(0,)]
    assert await query(db, "SELECT count(*) FROM outbox WHERE state < 2") == [(0,)], "every committed action delivered"
    assert kicked() == list(LATE) and ON_TIME in replies(sim, "验证通过")
    assert await query(db, "SELECT count(*) FROM admission_cases WHERE kind = 'quiz'") == [(0,)]
    successes = replies(sim, "签到成功")
    assert sorted(successes) == sorted(set(successes)), "a member checked in twice"
    assert set(later("已经签过到")) == committed_before, "every check-in made before the kill is remembered"
    assert set(successes) == set(MEMBERS), "every check-in answered, the ones committed before the kill too"
    rows = await query(db, f"SELECT user_id, count(*), sum(points) FROM checkins WHERE group_key = 'qq:{CHAT}' GROUP BY user_id")
    assert len(rows) == len(MEMBERS) and all(n == 1 for _, n, _ in rows)
    points = dict(await query(db, f"SELECT user_id, points FROM members WHERE group_key = 'qq:{CHAT}'"))
    assert all(points[u] == p for u, _, p in rows), "points match the check-ins, none doubled"
