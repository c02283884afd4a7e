"""Migration 0009: the check-in tables re-keyed (and on SQLite stored WITHOUT ROWID) keep every row, keep
refusing a second check-in on a day, and come back unchanged on downgrade; on both databases."""

from datetime import date, datetime, timezone

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from sqlalchemy.exc import IntegrityError

from bot.store import MIGRATIONS, Store
from bot.store.checkins import leaderboard
from bot.store.repos import bump_counter, utc
from tests.conftest import PG_URL, wipe_pg

AT = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=timezone.utc)
TABLES = {"members": "group_key, user_id", "checkins": "group_key, user_id, day", "daily_counters": "group_key, day, counter"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def bare(request, tmp_path):
    """A store whose schema is not migrated yet."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        if not PG_URL:
            pytest.skip("QUNBOT_TEST_PG_URL is not set")
        await wipe_pg()
        store = Store(PG_URL)
    yield store
    await store.close()


async def migrate(store: Store, to: str, down: bool = False) -> None:
    def go(connection):
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, to)

    if store.sync_engine is not None:
        with store.sync_engine.begin() as conn:
            go(conn)
    else:
        async with store.async_engine.begin() as conn:
            await conn.run_sync(go)


_OLD_CHECKIN = text("INSERT INTO checkins (group_key, user_id, day, at, rank, streak, points)"
                    " VALUES (:group_key, :user_id, :day, :at, :rank, 1, :points)")
_OLD_MEMBER = text(
    "INSERT INTO members (group_key, user_id, name, points, checkin_days, streak, best_streak, last_checkin)"
    " VALUES (:group_key, :user_id, :user_id, :points, 1, 1, 1, :day)"
    " ON CONFLICT (group_key, user_id) DO UPDATE SET points = members.points + excluded.points,"
    " checkin_days = members.checkin_days + 1, last_checkin = excluded.last_checkin")


def old_check_in(conn, group: str, user: str, day: date, points: int) -> None:
    """A check-in as the schema of 0008 takes it (today's repository writes columns added later)."""
    row = {"group_key": group, "user_id": user, "day": day, "at": utc(AT), "points": points}
    conn.execute(_OLD_CHECKIN, {**row, "rank": bump_counter(conn, group, day, "checkin")})
    conn.execute(_OLD_MEMBER, row)


def snapshot(conn) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {key}"))] for t, key in TABLES.items()}


async def test_0009_keeps_rows_and_the_key(bare):
    await migrate(bare, "0008_checkins_day_index")
    for day, users in ((date(2026, 11, 21), ("u1", "u2")), (date(2026, 11, 22), ("u2",)), (date(2026, 11, 23), ("u1", "u3"))):
        for user in users:
            await bare.run(old_check_in, "qq:g1", user, day, 10)
    before = await bare.run(snapshot)
    board = await bare.run(leaderboard, "qq:g1", date(2026, 11, 22), 10)

    await migrate(bare, "0009_checkins_clustered")
    assert await bare.run(snapshot) == before
    assert await bare.run(leaderboard, "qq:g1", date(2026, 11, 22), 10) == board
    with pytest.raises(IntegrityError):  # the key still refuses a second check-in on a day
        await bare.run(lambda c: c.execute(_OLD_CHECKIN, {"group_key": "qq:g1", "user_id": "u3", "day": date(2026, 11, 23),
                                                         "at": utc(AT), "rank": 9, "points": 10}))
    if bare.dialect == "sqlite":
        sql = await bare.run(lambda c: c.execute(text("SELECT group_concat(sql) FROM sqlite_master WHERE name IN ('members', 'checkins', 'daily_counters')")).scalar_one())
        assert sql.count("WITHOUT ROWID") == 3

    await migrate(bare, "0008_checkins_day_index", down=True)
    assert await bare.run(snapshot) == before
