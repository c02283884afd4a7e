"""Live relays (多群转播) and their transcripts.

Revision ID: 0014_24_relay
Revises: 0013_24_receipts
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_24_relay"
down_revision = "0013_24_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relays",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_group", sa.String(200), nullable=False),
        sa.Column("set_name", sa.String(200), nullable=False),
        sa.Column("targets", sa.Text, nullable=False, server_default="[]"),
        sa.Column("refused", sa.Text, nullable=False, server_default="{}"),
        sa.Column("speakers", sa.Text, nullable=False, server_default="[]"),
        sa.Column("questions", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
    )
    op.create_index("ix_relays_status", "relays", ["status"])
    # One running relay per source group, however many processes start it at once.
    op.create_index("ux_relays_running", "relays", ["source_group"], unique=True,
                    sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"))
    op.create_table(
        "relay_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("relay_id", sa.Integer, nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False, server_default=""),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_relay_messages_relay", "relay_messages", ["relay_id", "id"])


def downgrade() -> None:
    op.drop_table("relay_messages")
    op.drop_table("relays")
