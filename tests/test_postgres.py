"""PostgreSQL: the multi-process path. Uniqueness must hold in the database, not in one process's memory.

These tests wipe the database named by QUNBOT_TEST_PG_URL (CI creates a fresh one for them).
"""

import asyncio
import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from bot.model import MessageReceived
from bot.store.checkins import checkins_t
from bot.store.repos import audit_entries
from tests.conftest import PG_URL, ROOT, at, needs_pg, reasons, wipe_pg
from tests.test_replay import THREE_DAYS, records, run_replay, write_events

pytestmark = needs_pg


@pytest.fixture
async def pg_url():
    await wipe_pg()
    return PG_URL


def checkin_event(user: str, minute: int = 0) -> MessageReceived:
    return MessageReceived(at=at(f"2026-11-23 09:{minute:02d}"), platform="qq", group="g1", user=user, name=user, id=f"m-{user}-{minute}", text="签到")


async def test_two_processes_racing_one_member_record_one_checkin(pg_url, make_engine, only_rules):
    # Two engines with their own connection pools stand for two processes sharing the database.
    rules = only_rules("checkin")
    one, two = await make_engine(rules, db_url=pg_url), await make_engine(rules, db_url=pg_url)
    for round_ in range(10):
        # Four messages of one member at once, to both: one check-in, three told it was made already.
        events = [checkin_event(f"racer{round_}").model_copy(update={"id": f"m-racer{round_}-{i}"}) for i in range(4)]
        results = await asyncio.gather(*(engine.handle(e) for engine, e in zip((one, two, one, two), events)))
        assert sorted(r for actions in results for r in reasons(actions)) == ["already_checked_in"] * 3 + ["checked_in"]
        # One message received by both (processes connected to one account): answered once, by either.
        event = checkin_event(f"twin{round_}")
        results = await asyncio.gather(*(engine.handle(event) for engine in (one, two)))
        assert sorted(r for actions in results for r in reasons(actions)) == ["checked_in"]
    count = await one.store.run(lambda c: c.execute(select(func.count()).select_from(checkins_t)).scalar_one())
    assert count == 20


async def test_concurrent_members_get_distinct_ranks(pg_url, make_engine, only_rules):
    rules = only_rules("checkin")
    one, two = await make_engine(rules, db_url=pg_url), await make_engine(rules, db_url=pg_url)
    events = [checkin_event(f"m{i}") for i in range(20)]
    results = await asyncio.gather(*((one if i % 2 else two).handle(ev) for i, ev in enumerate(events)))
    ranks = sorted(int(a.text.split("第 ")[1].split(" 个")[0]) for actions in results for a in actions)
    assert ranks == list(range(1, 21))


async def test_replay_on_postgres_matches_sqlite(pg_url, tmp_path):
    events = write_events(tmp_path / "ev.jsonl", THREE_DAYS)
    on_sqlite = run_replay(str(events))
    on_pg = run_replay(str(events), "--db", pg_url)
    assert on_pg.returncode == 0, on_pg.stderr
    # Chart images go to a fresh temporary folder per run: compare everything but their paths.
    without_paths = lambda out: [{k: v for k, v in r.items() if k != "image"} for r in records(out)]  # noqa: E731
    assert without_paths(on_pg.stdout) == without_paths(on_sqlite.stdout)
    assert [r["plugin"] for r in records(on_pg.stdout)].count("checkin") == 9
    assert [r["plugin"] for r in records(on_pg.stdout)].count("daily_posts") == 4  # 22:00, 08:00, 22:00, 08:00


async def test_two_replay_processes_on_one_database_never_double_count(pg_url, tmp_path):
    members = [{"at": f"2026-11-23T09:{i % 60:02d}:00+08:00", "event": "message", "group": f"g{i % 3}",
                "user": f"u{i % 25}", "name": f"成员{i}", "id": f"m{i}", "text": "签到"} for i in range(150)]
    events = write_events(tmp_path / "ev.jsonl", members)
    cmd = [sys.executable, "-m", "bot.cli", "replay", str(events), "--db", pg_url]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    checked_in = [r for out, _ in outs for r in records(out) if r["reason"] == "checked_in"]
    unique_pairs = {(m["group"], m["user"]) for m in members}
    assert len(checked_in) == len(unique_pairs)  # each member-group once, across both processes


async def test_set_and_audit_on_postgres(pg_url, chat_with):
    chat = await chat_with("checkin", db_url=pg_url)
    assert reasons(await chat.say("/set checkin base_points 15", role="owner")) == ["setting_changed"]
    assert reasons(await chat.say("/set checkin base_points 16", role="member")) == ["not_permitted"]
    [entry] = await chat.engine.store.run(audit_entries, "qq:g1")
    assert json.loads(entry["new_value"]) == 15
    again = await chat.engine.__class__.create(chat.engine.config, chat.engine.rules_dir, db_url=pg_url)
    try:
        assert again.rulebook.effective("checkin", "qq:g1").base_points == 15
    finally:
        await again.close()


async def test_two_processes_due_to_post_to_the_same_groups_post_once(pg_url, make_engine, only_rules):
    rules = only_rules("daily_posts")
    one = await make_engine(rules, db_url=pg_url, start=at("2026-11-23 07:00"))
    two = await make_engine(rules, db_url=pg_url, start=at("2026-11-23 07:00"))
    for engine in (one, two):
        for i in range(30):
            engine.scheduler.plan_group(f"qq:g{i}")
    both = await asyncio.gather(one.scheduler.run_due(at("2026-11-23 08:00")), two.scheduler.run_due(at("2026-11-23 08:00")))
    fired = [a for effects in both for a in effects]
    assert {(a.plugin, a.reason) for a in fired} == {("daily_posts", "scheduled_post")}
    assert sorted(a.group for a in fired) == sorted(f"g{i}" for i in range(30))
