"""Replicas: several processes connected to the same accounts on one PostgreSQL, fed the same events.
Each group has one owner at a time (bot/leases.py); the others only watch, and take over when it dies.

The first tests run two engines in this process, each with its own connection pool and its own leases
(two processes as the database sees them); the last runs two real ``qunbot run`` processes against our
OneBot v11 simulator and kills one with SIGKILL.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES
from bot.model import MessageReceived
from bot.store.moderation import add_sample
from bot.topology import start_replicas
from tests.conftest import PG_URL, ROOT, at, needs_pg, reasons, wipe_pg
from tests.onebot_sim import OneBotSim
from tests.qq_harness import segment, texts_of, wait_until

LEASE = 2.0  # seconds: a dead owner's groups pass within this plus a renewal (0.4 s)


@pytest.fixture
async def pg_url():
    await wipe_pg()
    return PG_URL


class Replica:
    """One engine with its leases renewed in the background, as ``qunbot run`` does on PostgreSQL."""

    def __init__(self, engine):
        self.engine, self.task = engine, None

    @classmethod
    async def start(cls, make_engine, rules, db_url) -> "Replica":
        replica = cls(await make_engine(rules, config=QunbotConfig(lease_seconds=LEASE), db_url=db_url))
        leases = await start_replicas(replica.engine, replica.engine.config)
        replica.task = asyncio.create_task(leases.run_forever())
        return replica

    def die(self) -> None:
        """A kill -9 as the others see it: no more renewals, no release, no more events handled."""
        self.task.cancel()

    def owns(self, group: str = "qq:g1") -> bool:
        return self.engine.leases.owns(group) is True


def message(n: int, user: str, words: str, role: str = "member", **fields) -> MessageReceived:
    return MessageReceived(at=at("2026-11-23 09:00") + timedelta(seconds=n), platform="qq", group="g1", user=user, name=user,
                           role=role, id=f"m{n}", text=words, **fields)


async def fed(replicas, event) -> list:
    """The event handled by every replica at once (each process receives every event); the actions of all."""
    results = await asyncio.gather(*(r.engine.handle(event) for r in replicas))
    return [a for actions in results for a in actions]


@needs_pg
async def test_each_checkin_is_answered_once_and_the_survivor_takes_over(pg_url, make_engine, only_rules):
    rules = only_rules("checkin", "anti_ad")
    one, two = await Replica.start(make_engine, rules, pg_url), await Replica.start(make_engine, rules, pg_url)
    try:
        n = 0
        for i in range(12):
            n += 1
            assert reasons(await fed([one, two], message(n, f"u{i}", "签到"))) == ["checked_in"], f"u{i}"
        owner, other = (one, two) if one.owns() else (two, one)
        assert not other.owns()
        # A member repeats one text (5 times in a row is a repeat): 3 times before the owner dies …
        for _ in range(3):
            n += 1
            assert await fed([one, two], message(n, "chatty", "有人吗有人吗")) == []
        # … and an admin marks an ad on the owner.
        n += 1
        ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
        assert await fed([one, two], message(n, "seller", ad)) == []
        n += 1
        marked = await fed([one, two], message(n, "boss", "/ad", role="admin", reply_to=f"m{n - 1}"))
        assert "marked_ad" in reasons(marked)

        owner.die()
        died = time.monotonic()
        while not other.owns():
            assert time.monotonic() - died < 10, "the survivor did not take the group over within 10 s"
            await asyncio.sleep(0.05)
        took = time.monotonic() - died
        assert took < LEASE + 1.0, took

        # Nothing committed is lost: the check-ins made on the dead owner are the survivor's too.
        n += 1
        assert reasons(await other.engine.handle(message(n, "u3", "签到"))) == ["already_checked_in"]
        n += 1
        assert reasons(await other.engine.handle(message(n, "u99", "签到"))) == ["checked_in"]
        # The survivor watched the repeats: the 5th in a row is one, counted across the take-over.
        n += 1
        assert await other.engine.handle(message(n, "chatty", "有人吗有人吗")) == []
        n += 1
        assert "repeat" in reasons(await other.engine.handle(message(n, "chatty", "有人吗有人吗")))
        # The ad sample marked on the dead owner catches a near-copy on the survivor.
        n += 1
        copy = "本店新到一批进口奶粉，质量有保证，有兴趣的可以来店里看看，地址：人民路99号"
        assert "near_copy" in reasons(await other.engine.handle(message(n, "seller2", copy)))
        rows = await other.engine.store.run(lambda c: c.execute(text("SELECT count(*) FROM checkins")).scalar_one())
        assert rows == 13
    finally:
        one.die(), two.die()


@needs_pg
async def test_a_clean_stop_hands_the_group_over_at_once(pg_url, make_engine, only_rules):
    rules = only_rules("checkin")
    one, two = await Replica.start(make_engine, rules, pg_url), await Replica.start(make_engine, rules, pg_url)
    try:
        assert reasons(await fed([one, two], message(1, "u1", "签到"))) == ["checked_in"]
        owner, other = (one, two) if one.owns() else (two, one)
        owner.die()
        stopped = time.monotonic()
        await owner.engine.leases.close()  # qunbot run's way out: the leases are released
        while not other.owns():
            await asyncio.sleep(0.02)
        assert time.monotonic() - stopped < 1.0  # one renewal, not a lease's expiry
        assert reasons(await other.engine.handle(message(2, "u2", "签到"))) == ["checked_in"]
    finally:
        one.die(), two.die()


@needs_pg
async def test_scheduled_posts_fire_on_the_owner_only_and_the_new_owner_fires_what_was_missed(pg_url, make_engine, only_rules):
    rules = only_rules(daily_posts='[posts.morning]\ntime = "09:00"\ndays = "every"\ntemplate = "daily_posts/morning"\n')
    one, two = await Replica.start(make_engine, rules, pg_url), await Replica.start(make_engine, rules, pg_url)
    try:
        early = message(0, "u1", "大家好").model_copy(update={"at": at("2026-11-23 08:00")})
        await fed([one, two], early)  # both learn the group; one owns it
        owner, other = (one, two) if one.owns() else (two, one)
        day = at("2026-11-24 09:00")
        fired_owner = await owner.engine.scheduler.run_due(day)
        fired_other = await other.engine.scheduler.run_due(day)
        assert reasons(fired_owner) == ["scheduled_post"] * 2 and fired_other == []
        owner.die()
        while not other.owns():
            await asyncio.sleep(0.05)
        # The next morning the old owner is gone: the survivor posts it, once.
        next_day = at("2026-11-25 09:00")
        other.engine.clock.set(next_day)
        assert reasons(await other.engine.scheduler.run_due(next_day)) == ["scheduled_post"]
        claims = await other.engine.store.run(lambda c: c.execute(text("SELECT count(*) FROM schedule_claims")).scalar_one())
        assert claims == 3
    finally:
        one.die(), two.die()


async def test_taking_a_group_over_reloads_the_ad_samples_another_process_marked(chat_with):
    chat = await chat_with("anti_ad")
    ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
    copy = "本店新到一批进口奶粉，质量有保证，有兴趣的可以来店里看看，地址：人民路99号"
    assert await chat.say("大家好", user="u1") == []  # the samples (none yet) are loaded
    # Meanwhile another process, owning the group, had an admin mark the ad: only the database knows.
    from bot.adscan import compact, fold

    await chat.engine.store.run(add_sample, "qq:g1", "ad", compact(fold(ad)), "m0", "boss", chat.now)
    assert await chat.say(copy, user="u2") == []  # this process's samples are stale: not caught
    await chat.engine.on_group_acquired("qq:g1")
    assert "near_copy" in reasons(await chat.say(copy, user="u3"))


# ----------------------------------------------------------------------------- two real processes

CHAT = 700300
# 15 before the kill, then one every 0.25 s for up to 10 s while nobody answers: enough never to run out
# before the 10 s assertion speaks.
MEMBERS = [2101 + i for i in range(60)]


def _setup(tmp: Path, url: str, n: int) -> tuple[Path, Path]:
    rules = tmp / "rules"
    if not rules.exists():
        rules.mkdir()
        shutil.copy(SHIPPED_RULES / "checkin.toml", rules)
    config = tmp / f"config{n}.toml"
    config.write_text(
        f'adapters = ["qq"]\ndatabase_url = "{PG_URL}"\nlease_seconds = {LEASE}\n'
        '[outbox.qq]\nper_group_per_minute = 1000\nper_second = 500.0\n'
        f'[qq]\naction_timeout = 60.0\n[[qq.forward]]\nurl = "{url}"\n', encoding="utf-8")
    return config, rules


async def _qunbot(tmp: Path, n: int, config: Path, rules: Path) -> asyncio.subprocess.Process:
    log = (tmp / f"bot{n}.log").open("ab")
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "--config", str(config),
                                                "--rules", str(rules), cwd=ROOT, stdout=log, stderr=log)


def said(words: str) -> list[dict]:
    return [{"type": "text", "data": {"text": words}}]


def replies(sim: OneBotSim, words: str) -> list[int]:
    """The members mentioned in the bot's messages to the group that contain ``words``."""
    return [int(segment(s["message"], "at")["qq"]) for s in sim.sent
            if s["group_id"] == CHAT and words in texts_of(s["message"]) and segment(s["message"], "at")]


@pytest.fixture
async def sim():
    peer = OneBotSim()
    peer.add_group(CHAT, {1001: "owner", **{m: "member" for m in MEMBERS}})
    yield peer
    await peer.stop()


@needs_pg
async def test_two_qunbot_processes_answer_once_and_the_survivor_of_a_kill_9_takes_over(pg_url, sim, tmp_path):
    url = await sim.start_forward()
    procs = []
    for n in (1, 2):
        config, rules = _setup(tmp_path, url, n)
        procs.append(await _qunbot(tmp_path, n, config, rules))
    logs = lambda: "\n".join((tmp_path / f"bot{n}.log").read_text(encoding="utf-8", errors="replace")[-2000:] for n in (1, 2))  # noqa: E731
    answered = lambda: replies(sim, "签到成功") + replies(sim, "已经签过到")  # noqa: E731
    try:
        await wait_until(lambda: len(sim.clients) == 2, f"both processes connected\n{logs()}")
        first = MEMBERS[:15]
        for user in first:
            await sim.member_says(CHAT, user, said("签到"))
        await wait_until(lambda: len(answered()) >= len(first), f"15 answers\n{logs()}")
        await asyncio.sleep(1.0)  # room for a second answer to show
        assert sorted(replies(sim, "签到成功")) == sorted(first), "each 签到 answered once, by one process"
        assert replies(sim, "已经签过到") == []

        owners = [n for n in (1, 2) if f"qq:{CHAT}" in (tmp_path / f"bot{n}.log").read_text(encoding="utf-8")
                  .split("took over", 1)[-1].split("\n", 1)[0]]
        assert len(owners) == 1, logs()
        owner = procs[owners[0] - 1]
        owner.kill()  # SIGKILL: no release, no goodbye
        await owner.wait()
        killed = time.monotonic()
        # Members keep checking in; those who speak while nobody owns the group get no answer and try again.
        later = iter(MEMBERS[15:])
        while not set(replies(sim, "签到成功")) - set(first):
            assert time.monotonic() - killed < 10, f"no take-over within 10 s\n{logs()}"
            await sim.member_says(CHAT, next(later), said("签到"))
            await asyncio.sleep(0.25)
        took = time.monotonic() - killed
        spoke = MEMBERS[15:MEMBERS.index(next(later))]
        for user in first + spoke:  # everyone again: the survivor remembers what the dead owner committed
            await sim.member_says(CHAT, user, said("签到"))
        await wait_until(lambda: set(replies(sim, "已经签过到")) | set(replies(sim, "签到成功")) >= set(first + spoke),
                         f"answers after the take-over\n{logs()}")
        await asyncio.sleep(1.0)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
    assert took < 10
    successes = replies(sim, "签到成功")
    assert sorted(successes) == sorted(set(successes)), "a member checked in twice"
    assert set(first) <= set(replies(sim, "已经签过到")), "a check-in committed by the dead owner was lost"
    assert set(successes) == set(first + spoke)
    print(f"take-over after kill -9: {took:.1f} s")
