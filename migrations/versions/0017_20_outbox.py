"""The transactional outbox: platform actions written with the state they follow from, delivered from here.

Revision ID: 0017_20_outbox
Revises: 0016_26_web
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_20_outbox"
down_revision = "0016_26_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False, server_default=""),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("state", sa.Integer, nullable=False, server_default="0"),
        sa.Column("again", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_open", "outbox", ["group_key", "state"])


def downgrade() -> None:
    op.drop_index("ix_outbox_open", "outbox")
    op.drop_table("outbox")
