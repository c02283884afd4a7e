"""Staying power on PostgreSQL: two `qunbot replay` processes fed the same events for the same groups,
at the same time, leave the database exactly as one process does, and punish, post and count once.

Every uniqueness has to come from the database (keys, claims, idempotent inserts): the two processes
share nothing else. Wipes the database named by QUNBOT_TEST_PG_URL.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from bot.store import Store
from bot.store.tables import Base
from tests.conftest import PG_URL, ROOT, needs_pg, wipe_pg
from tests.test_replay import records, write_events

pytestmark = needs_pg

AD = "加 V 💰 x i a o m e i ❤ 8 8 6 6，带你赚钱"
# Columns that say which process did something or when on the wall clock, not what was done.
PROCESS_COLUMNS = {"id", "claimed_at", "claimed_by", "sent_at"}
# Message statistics are hot counters kept in each process's memory and flushed in batches: two
# processes that both receive a message both count it (README, "Storage"); left out of the comparison.
PER_PROCESS_TABLES = {"member_daily", "alembic_version"}
STATISTICS = {"messages", "joins", "leaves", "red_packets", "game_turns", "moderation", "checkins", "actions"}


def day_of_events(day: str, group: str, n: int) -> list[dict]:
    at = lambda hh, mm: f"2026-11-{day}T{hh:02d}:{mm:02d}:00+08:00"  # noqa: E731
    ev = lambda hh, mm, user, words, **extra: {"at": at(hh, mm), "event": "message", "group": group, "user": user,  # noqa: E731
                                              "name": f"成员{user}", "id": f"{day}-{group}-{n}-{hh}{mm}-{user}", "text": words, **extra}
    events = [ev(7, 50 + i % 10, f"u{i}", "签到") for i in range(12)]
    events += [ev(8, 10, f"u{i}", "签到") for i in range(0, 12, 3)]  # a second try: already checked in
    events += [ev(9, 0 + i, "spam", AD.replace("8866", f"88{i}6")) for i in range(3)]  # delete, mute, then kick
    events += [ev(10, i, f"u{i}", "", kind="red_packet") for i in range(3)]
    events += [ev(11, i, f"u{i}", f"今天天气不错 {i}") for i in range(10)]
    events += [{"at": at(12, 0), "event": "member_joined", "group": group, "user": f"new{day}", "name": "新人"},
               ev(12, 1, f"new{day}", "从公众号来的"), ev(12, 5, "u1", "/me")]
    events += [{"at": at(13, i), "event": "join_request", "group": group, "user": f"asker{i % 2}", "name": "申请人",
                "id": f"r{day}{group}{i}", "answer": "朋友介绍" if i == 3 else "不告诉你"} for i in range(4)]
    return events


async def dump(url: str) -> dict[str, list]:
    """Every table's rows, without process-specific columns, in a stable order."""
    store = Store(url)
    state = {}
    try:
        async with store.async_engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                if table.name in PER_PROCESS_TABLES:
                    continue
                cols = [c for c in table.columns if c.name not in PROCESS_COLUMNS]
                rows = (await conn.execute(table.select().with_only_columns(*cols))).all()
                if table.name == "daily_counters":
                    rows = [r for r in rows if r.counter not in STATISTICS]
                state[table.name] = sorted(repr(tuple(r)) for r in rows)
    finally:
        await store.close()
    return state


def replays(path, count: int) -> list[list[dict]]:
    cmd = [sys.executable, "-m", "bot.cli", "replay", str(path), "--db", PG_URL]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(count)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    return [records(out) for out, _ in outs]


def once_only(actions: list[dict]) -> Counter:
    """What must happen once whoever does it: punishments, posts, check-ins, points."""
    keep = lambda a: (a["action"] in ("mute", "kick", "delete") or a["action"] == "decide_join" or a["plugin"] in ("daily_posts", "welcome", "join_threshold")  # noqa: E731
                      or a["reason"] in ("checked_in", "red_packet_thanked"))
    return Counter((a["action"], a["group"], a.get("user", ""), a["plugin"], a["reason"], a["at"]) for a in actions if keep(a))


async def test_two_processes_end_with_the_state_of_one(tmp_path):
    events = [e for day in ("23", "24") for g in ("g1", "g2", "g3") for e in day_of_events(day, g, 0)]
    events.sort(key=lambda e: e["at"])
    path = write_events(tmp_path / "ev.jsonl", events)

    await wipe_pg()
    [alone] = replays(path, 1)
    one = await dump(PG_URL)
    await wipe_pg()
    pair = replays(path, 2)
    two = await dump(PG_URL)

    for name in one:
        assert two[name] == one[name], f"{name}: {set(two[name]) ^ set(one[name])}"
    assert once_only(pair[0] + pair[1]) == once_only(alone)
    done = Counter(a["action"] for a in alone if a["plugin"] == "anti_ad")
    assert done["mute"] and done["kick"] and done["delete"]  # the ladder was climbed, so doubling would show
