"""The operators' everyday tools: keyword answers added from the chat, lotteries and their entries, who
invited whom, members' presence (joins, leaves, roles) and the sleeping-member clean-up's warnings.

Revision ID: 0011_activities
Revises: 0010_timers
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_activities"
down_revision = "0010_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("match", sa.String(10), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_reply_entries_trigger", "reply_entries", ["group_key", "match", "trigger"], unique=True)
    op.create_table(
        "lotteries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("prize", sa.String(200), nullable=False),
        sa.Column("winners", sa.Integer, nullable=False),
        sa.Column("keyword", sa.String(100), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_lotteries_group", "lotteries", ["group_key", "status"])
    op.create_table(
        "lottery_entries",
        sa.Column("lottery_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "member_presence",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("role", sa.String(20), nullable=False, server_default="member"),
    )
    op.create_table(
        "invites",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("invitee", sa.String(200), primary_key=True),
        sa.Column("inviter", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credited_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_invites_inviter", "invites", ["group_key", "inviter"])
    op.create_table(
        "inactive_warnings",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spared_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("inactive_warnings")
    op.drop_index("ix_invites_inviter", "invites")
    op.drop_table("invites")
    op.drop_table("member_presence")
    op.drop_table("lottery_entries")
    op.drop_index("ix_lotteries_group", "lotteries")
    op.drop_table("lotteries")
    op.drop_index("ux_reply_entries_trigger", "reply_entries")
    op.drop_table("reply_entries")
