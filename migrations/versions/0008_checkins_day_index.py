"""Check-ins: drop the index on ``day`` alone. No query reads check-ins by day without the group (the
leaderboard uses ix_checkins_group_day, the rest the key), and each check-in paid for it: one more B-tree
insert and one more page written at every commit (8.9 -> 7.8 WAL frames a check-in on SQLite).

Revision ID: 0008_checkins_day_index
Revises: 0007_staying
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008_checkins_day_index"
down_revision = "0007_staying"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_checkins_day", "checkins")


def downgrade() -> None:
    op.create_index("ix_checkins_day", "checkins", ["day"])
