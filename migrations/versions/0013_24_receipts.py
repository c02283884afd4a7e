"""Delivery receipts (bot/receipts.py) and broadcasts (plugins/broadcasts.py).

Revision ID: 0013_24_receipts
Revises: 0012_24_bans
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_24_receipts"
down_revision = "0012_24_bans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_receipts",
        sa.Column("receipt", sa.String(200), primary_key=True),
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("problem", sa.String(500), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("origin_group", sa.String(200), nullable=False),
        sa.Column("set_name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("targets", sa.Text, nullable=False, server_default="[]"),
        sa.Column("refused", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_broadcasts_origin", "broadcasts", ["origin_group", "status"])


def downgrade() -> None:
    op.drop_table("broadcasts")
    op.drop_table("delivery_receipts")
