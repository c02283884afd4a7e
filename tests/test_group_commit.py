"""Group commit and the transactional outbox, one piece at a time: the writes of events handled together
share one transaction, a lone event commits at once, an event's actions leave only once its transaction is
durable, a failed write undoes only itself, and what the outbox table holds after a crash is delivered
(once) by the process that resumes the group."""

import asyncio
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.config import OutboxLimits, QunbotConfig
from bot.journal import dump
from bot.store import batch
from bot.model import JoinRequested, MessageReceived, MuteMember, SendMessage
from bot.store.journal import add_rows, mark, open_rows
from tests.conftest import PG_URL, at, wipe_pg
from tests.test_outbox import RecordingAdapter


def note(conn, key: str) -> None:
    conn.execute(text("INSERT INTO groups (group_key, first_seen) VALUES (:k, '2026-01-01 00:00:00')"), {"k": key})


def keys(conn) -> set[str]:
    return {k for (k,) in conn.execute(text("SELECT group_key FROM groups"))}


async def test_units_opened_together_share_one_commit_and_a_lone_one_commits_at_once(store):
    async def event(key: str) -> asyncio.Future:
        async with store.unit() as unit:
            await store.run(note, key)
            await asyncio.sleep(0)  # handling goes on while the other events arrive
        return unit.durable

    before = store.group_commit.commits
    durables = await asyncio.gather(*(event(f"g{i}") for i in range(10)))
    await asyncio.gather(*durables)
    assert store.group_commit.commits - before == 1, "ten events handled together, one transaction"
    assert {f"g{i}" for i in range(10)} <= await store.run(keys)

    lone = await event("alone")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await lone
    assert loop.time() - started < 0.05 and store.group_commit.commits - before == 2


async def test_a_batch_with_actions_waiting_commits_when_its_last_unit_closes(store, monkeypatch):
    """Events back to back without the loop turning (a saturated bot): writes nothing waits for share
    the batch with the next event, but actions waiting on it do not wait for the events behind them."""
    monkeypatch.setattr(batch, "MAX_AGE", 60.0)  # no batch grows old during the test
    before = store.group_commit.commits
    async with store.unit() as quiet:
        await store.run(note, "counter only")
    assert not quiet.durable.done(), "nothing waits on it: it stays open for the next event"
    async with store.unit() as urgent:
        await store.run(note, "with a reply")
        urgent.awaited()
    assert urgent.durable is quiet.durable, "the two events shared one batch"
    if store.sync_engine is not None:  # SQLite commits in the loop's thread: durable as the unit closes
        assert urgent.durable.done()
    await urgent.durable
    assert store.group_commit.commits - before == 1


async def test_a_write_that_fails_undoes_only_itself(store):
    def broken(conn):
        note(conn, "half")
        raise ValueError("a plugin's bug")

    async with store.unit() as unit:
        await store.run(note, "kept")
        try:
            await store.run(broken)
        except ValueError:
            pass
        await store.run(note, "kept too")
    await unit.durable
    assert {"kept", "kept too"} <= await store.run(keys) and "half" not in await store.run(keys)


async def test_a_run_outside_any_unit_joins_an_open_batch_and_returns_once_durable(store):
    async with store.unit() as unit:
        await store.run(note, "in a unit")
        outside = asyncio.ensure_future(store.run(keys))  # another task: not in the unit
        await asyncio.sleep(0)
        assert not outside.done() and not unit.durable.done()
    assert "in a unit" in await outside and unit.durable.done()


class Witness(RecordingAdapter):
    """Looks at the database from another connection when a reply goes out: what it sees is committed."""

    def __init__(self, db):
        super().__init__()
        self.db, self.seen = db, []

    async def perform(self, action):
        with sqlite3.connect(self.db) as conn:
            self.seen.append(conn.execute("SELECT count(*) FROM checkins").fetchone()[0])
        await super().perform(action)


async def test_a_reply_leaves_only_after_its_check_in_is_durable(make_engine, tmp_path):
    engine = await make_engine(config=QunbotConfig(outbox={"test": OutboxLimits(per_second=1000, per_group_per_minute=1000)}))
    witness = engine.adapters["test"] = Witness(tmp_path / "db0.sqlite")
    say = lambda i: MessageReceived(at=at("2026-11-23 09:00") + timedelta(seconds=i), platform="test",  # noqa: E731
                                    group="g1", user=f"u{i}", id=f"m{i}", text="签到")
    futures = await asyncio.gather(*(engine.handle_and_send(say(i)) for i in range(5)))
    assert await asyncio.gather(*futures) == [True] * 5
    assert len(witness.delivered) == 5 and all(seen >= 1 for seen in witness.seen)
    assert witness.seen[0] == 5, "the five check-ins shared one transaction, committed before the first reply"
    rows = await engine.store.run(lambda conn: conn.execute(text("SELECT state FROM outbox")).scalars().all())
    await engine.journal.flush()
    assert rows and set(await engine.store.run(lambda conn: conn.execute(text("SELECT state FROM outbox")).scalars().all())) == {2}


class Names(RecordingAdapter):
    async def perform(self, action):
        self.delivered.append((0.0, getattr(action, "text", action.name)))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_resume_delivers_what_was_committed_and_not_done_once(make_engine, database):
    if database == "postgresql":
        if not PG_URL:
            pytest.skip("QUNBOT_TEST_PG_URL is not set")
        await wipe_pg()
    engine = await make_engine(config=QunbotConfig(outbox={"test": OutboxLimits(per_second=1000)}),
                               db_url=PG_URL if database == "postgresql" else None)
    adapter = engine.adapters["test"] = Names()
    reported = []
    engine.outbox.report = lambda line, _to_chat=True: reported.append(line)
    msg = lambda t: SendMessage(platform="test", group="g1", text=t, plugin="p", reason="r")  # noqa: E731
    mute = MuteMember(platform="test", group="g1", user="u7", seconds=60, plugin="p", reason="r")
    now = at("2026-11-23 09:00")
    rows = [{"id": f"old.{i}", "group_key": "test:g1", "event": f"old.e{i // 2}", "seq": i % 2, "plugin": "p",
             "action": dump(a), "again": again, "created": now} for i, (a, again) in
            enumerate([(msg("waiting"), False), (msg("in doubt"), False), (msg("post in doubt"), True), (mute, False)])]
    await engine.store.run(add_rows, rows)
    await engine.store.run(mark, ["old.1", "old.2", "old.3"], 1, now)  # "sending" when the process died

    assert await engine.resume_group("test:g1") == 4
    await engine.outbox.drain()
    await engine.journal.flush()
    # The platform cannot say what it has (no has_sent): the message in doubt is not sent again, the post is.
    assert [t for _, t in adapter.delivered] == ["waiting", "post in doubt", "mute"]  # the mute is taken again
    assert any("may have arrived" in r and "in doubt" in r for r in reported)
    assert await engine.store.run(open_rows, "test:g1") == []
    assert await engine.resume_group("test:g1") == 0, "delivered once"


async def test_the_same_join_request_sent_again_with_another_time_is_decided_once(chat_with):
    chat = await chat_with("join_threshold")
    ask = lambda when=None: chat._handle(JoinRequested, when, user="u4", name="申请人", id="r1", answer="从公众号来的")  # noqa: E731
    first = await ask()
    again = await ask(chat.now + timedelta(minutes=5))  # the platform sends it again, with its own time
    assert [a.name for a in first if a.name == "decide_join"] == ["decide_join"]
    assert not [a for a in again if a.name == "decide_join"]


class Remembers(Names):
    """A platform that can say whether a message of the bot's is in the group (``has_sent``)."""

    def __init__(self, history: dict[str, bool | None]):
        super().__init__()
        self.history = history

    async def has_sent(self, group, text):
        return self.history.get(text)


async def test_a_message_in_doubt_after_a_crash_is_sent_again_only_where_the_platform_lacks_it(make_engine):
    engine = await make_engine(config=QunbotConfig(outbox={"test": OutboxLimits(per_second=1000)}))
    adapter = engine.adapters["test"] = Remembers({"早安（已到）": True, "晚安（没到）": False, "午安（说不准）": None,
                                                    "签到成功（已到）": True, "签到成功（没到）": False, "签到成功（说不准）": None})
    now = at("2026-11-23 09:00")
    texts = ["早安（已到）", "晚安（没到）", "午安（说不准）", "签到成功（已到）", "签到成功（没到）", "签到成功（说不准）"]
    rows = [{"id": f"old.{i}", "group_key": "test:g1", "event": f"old.e{i}", "seq": 0, "plugin": "p",
             "action": dump(SendMessage(platform="test", group="g1", text=t, plugin="p", reason="r")),
             "again": i < 3, "created": now} for i, t in enumerate(texts)]  # the first three are scheduled posts
    await engine.store.run(add_rows, rows)
    await engine.store.run(mark, [r["id"] for r in rows], 1, now)  # "sending" when the process died

    assert await engine.resume_group("test:g1") == 6
    await engine.outbox.drain()
    await engine.journal.flush()
    # Where the platform cannot say, a post goes again and a reply does not (it may have arrived).
    assert [t for _, t in adapter.delivered] == ["晚安（没到）", "午安（说不准）", "签到成功（没到）"]
    assert await engine.store.run(open_rows, "test:g1") == [] and not engine.journal.doubtful
