"""Initial schema: groups, members, check-ins, daily counters, owner settings, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("checkin_days", sa.Integer, nullable=False),
        sa.Column("streak", sa.Integer, nullable=False),
        sa.Column("best_streak", sa.Integer, nullable=False),
        sa.Column("last_checkin", sa.Date, nullable=True),
    )
    op.create_table(
        "checkins",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("streak", sa.Integer, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
    )
    op.create_index("ix_checkins_day", "checkins", ["day"])
    op.create_index("ix_checkins_group_day", "checkins", ["group_key", "day"])
    op.create_table(
        "daily_counters",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("counter", sa.String(50), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_table(
        "group_settings",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("plugin", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_group_key", "audit_log", ["group_key"])


def downgrade() -> None:
    for table in ("audit_log", "group_settings", "daily_counters", "checkins", "members", "groups"):
        op.drop_table(table)
