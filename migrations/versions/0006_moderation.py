"""Moderation: offences for the ladder, admin-marked samples, the moderation log, mute-window state.

Revision ID: 0006_moderation
Revises: 0005_admission
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_moderation"
down_revision = "0005_admission"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mod_offences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("detector", sa.String(50), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mod_offences_member", "mod_offences", ["group_key", "user_id", "at"])
    op.create_table(
        "mod_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mod_samples_group", "mod_samples", ["group_key"])
    op.create_table(
        "mod_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("detector", sa.String(50), nullable=False),
        sa.Column("matched", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("decision", sa.String(50), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
    )
    op.create_index("ix_mod_log_group", "mod_log", ["group_key", "at"])
    op.create_table(
        "mute_window_state",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("muted", sa.Boolean, nullable=False),
        sa.Column("adhoc_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("mute_window_state", "mod_log", "mod_samples", "mod_offences"):
        op.drop_table(table)
