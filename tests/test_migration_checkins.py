"""Migration 0009: the check-in tables re-keyed (and on SQLite stored WITHOUT ROWID) keep every row, keep
refusing a second check-in on a day, and come back unchanged on downgrade; on both databases."""

from datetime import date, datetime, timezone

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from bot.store import MIGRATIONS, Store
from bot.store.checkins import AlreadyCheckedIn, check_in, leaderboard
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


def snapshot(conn) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {key}"))] for t, key in TABLES.items()}


async def test_0009_keeps_rows_and_the_key(bare):
    await migrate(bare, "0008_checkins_day_index")
    for day, users in ((date(2026, 11, 21), ("u1", "u2")), (date(2026, 11, 22), ("u2",)), (date(2026, 11, 23), ("u1", "u3"))):
        for user in users:
            await bare.run(check_in, "qq:g1", user, user, day, AT, lambda streak: 10 * streak)
    before = await bare.run(snapshot)
    board = await bare.run(leaderboard, "qq:g1", date(2026, 11, 22), 10)

    await migrate(bare, "0009_checkins_clustered")
    assert await bare.run(snapshot) == before
    assert await bare.run(leaderboard, "qq:g1", date(2026, 11, 22), 10) == board
    with pytest.raises(AlreadyCheckedIn):
        await bare.run(check_in, "qq:g1", "u3", "u3", date(2026, 11, 23), AT, lambda streak: 10)
    if bare.dialect == "sqlite":
        sql = await bare.run(lambda c: c.execute(text("SELECT group_concat(sql) FROM sqlite_master WHERE name IN ('members', 'checkins', 'daily_counters')")).scalar_one())
        assert sql.count("WITHOUT ROWID") == 3

    await migrate(bare, "0008_checkins_day_index", down=True)
    assert await bare.run(snapshot) == before
