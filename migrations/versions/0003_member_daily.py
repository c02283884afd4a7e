"""Per-member daily message counts, flushed in batches from memory (the hot path never writes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_daily",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
    )
    op.create_table(
        "rotation_state",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("rotation", sa.String(100), primary_key=True),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rotation_state")
    op.drop_table("member_daily")
