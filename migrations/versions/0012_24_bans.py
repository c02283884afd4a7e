"""Shared ban lists (共享黑名单): who was banned where, when, by whom and why; lifted entries are kept.

Revision ID: 0012_24_bans
Revises: 0011_activities
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_24_bans"
down_revision = "0011_activities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("origin_group", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("by_user", sa.String(200), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_bans_member", "bans", ["platform", "user_id"])
    op.create_index("ux_bans_standing", "bans", ["origin_group", "user_id"], unique=True,
                    sqlite_where=sa.text("lifted_at IS NULL"), postgresql_where=sa.text("lifted_at IS NULL"))


def downgrade() -> None:
    op.drop_table("bans")
