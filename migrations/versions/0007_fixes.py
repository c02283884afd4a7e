"""Red packets counted once per message id.

Revision ID: 0007_fixes
Revises: 0006_moderation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_fixes"
down_revision = "0006_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "red_packets_seen",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("red_packets_seen")
