"""Timers: plugins' one-shot deadlines (quiz, introduction, a game's silence) stored, so that the engine
arms them again at start and one process fires each.

Revision ID: 0010_timers
Revises: 0009_checkins_clustered
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_timers"
down_revision = "0009_checkins_clustered"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("plugin", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_timers_due", "timers", ["due"])


def downgrade() -> None:
    op.drop_index("ix_timers_due", "timers")
    op.drop_table("timers")
