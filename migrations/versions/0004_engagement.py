"""Engagement: the points ledger, member profiles (birthday, join date, red packets), game state,
prompt cooldowns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_points_ledger_member", "points_ledger", ["group_key", "user_id"])
    op.create_table(
        "member_profiles",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("birthday", sa.String(5), nullable=True),  # "MM-DD"
        sa.Column("joined_on", sa.Date, nullable=True),
        sa.Column("red_packets", sa.Integer, nullable=False),
    )
    op.create_table(
        "game_state",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("game", sa.String(50), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "prompt_cooldowns",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(50), primary_key=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("prompt_cooldowns", "game_state", "member_profiles", "points_ledger"):
        op.drop_table(table)
