"""Check-ins: key (group_key, day, user_id) instead of (group_key, user_id, day), so that the key serves the
leaderboard's "this group since that day" and ix_checkins_group_day goes; on SQLite the check-in tables
(members, checkins, daily_counters) are stored WITHOUT ROWID, clustered on their keys.

Why: a check-in wrote each of these rows twice on SQLite (the rowid table and the key's own index) and
the check-in row a third time (ix_checkins_group_day). Now each is one B-tree insert or update: 7.8 -> 5.7
WAL frames a check-in commit, ~8% fewer instructions a check-in transaction (callgrind). PostgreSQL has
no rowid; there the key changes order and the index goes (one index write less a check-in).

Revision ID: 0009_checkins_clustered
Revises: 0008_checkins_day_index
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009_checkins_clustered"
down_revision = "0008_checkins_day_index"
branch_labels = None
depends_on = None

_COLUMNS = {
    "members": "group_key VARCHAR(200) NOT NULL, user_id VARCHAR(200) NOT NULL, name VARCHAR(200) NOT NULL,"
               " points INTEGER NOT NULL, checkin_days INTEGER NOT NULL, streak INTEGER NOT NULL,"
               " best_streak INTEGER NOT NULL, last_checkin DATE",
    "checkins": "group_key VARCHAR(200) NOT NULL, user_id VARCHAR(200) NOT NULL, day DATE NOT NULL,"
                " at DATETIME NOT NULL, rank INTEGER NOT NULL, streak INTEGER NOT NULL, points INTEGER NOT NULL",
    "daily_counters": "group_key VARCHAR(200) NOT NULL, day DATE NOT NULL, counter VARCHAR(50) NOT NULL,"
                      " n INTEGER NOT NULL",
}
_KEYS = {"members": "group_key, user_id", "daily_counters": "group_key, day, counter"}
_NEW_CHECKINS_KEY, _OLD_CHECKINS_KEY = "group_key, day, user_id", "group_key, user_id, day"


def _rebuild_sqlite(table: str, key: str, rowid: bool) -> None:
    # SQLite cannot change a table's key or rowid in place: copy it into a new table and swap the names.
    op.execute(f"CREATE TABLE {table}_new ({_COLUMNS[table]}, PRIMARY KEY ({key})){'' if rowid else ' WITHOUT ROWID'}")
    names = ", ".join(column.split()[0] for column in _COLUMNS[table].split(","))  # by name, not by position
    op.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")


def _rekey_postgresql(key: str) -> None:
    op.execute("ALTER TABLE checkins DROP CONSTRAINT checkins_pkey")
    op.execute(f"ALTER TABLE checkins ADD CONSTRAINT checkins_pkey PRIMARY KEY ({key})")


def upgrade() -> None:
    op.drop_index("ix_checkins_group_day", "checkins")
    if op.get_bind().dialect.name == "sqlite":
        for table, key in (*_KEYS.items(), ("checkins", _NEW_CHECKINS_KEY)):
            _rebuild_sqlite(table, key, rowid=False)
    else:
        _rekey_postgresql(_NEW_CHECKINS_KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, key in (*_KEYS.items(), ("checkins", _OLD_CHECKINS_KEY)):
            _rebuild_sqlite(table, key, rowid=True)
    else:
        _rekey_postgresql(_OLD_CHECKINS_KEY)
    op.create_index("ix_checkins_group_day", "checkins", ["group_key", "day"])
