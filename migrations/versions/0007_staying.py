"""Staying power: delivery state of schedule claims; one offence and one moderation decision per
message, however many processes saw it.

Revision ID: 0007_staying
Revises: 0006_moderation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_staying"
down_revision = "0006_moderation"
branch_labels = None
depends_on = None


HAS_ID = sa.text("message_id <> ''")


def _dedupe(table: str, columns: str) -> None:
    # Keep the first row of each duplicate set (written before the key existed, by two processes).
    op.execute(f"DELETE FROM {table} WHERE message_id <> '' AND id NOT IN (SELECT MIN(id) FROM {table} GROUP BY {columns})")


def upgrade() -> None:
    with op.batch_alter_table("schedule_claims") as batch:
        # NULL: claimed but not (yet) delivered; a claim from before this revision counts as delivered.
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=False, server_default=""))
    op.execute("UPDATE schedule_claims SET sent_at = claimed_at")
    op.create_index("ix_schedule_claims_unsent", "schedule_claims", ["sent_at", "slot"])
    _dedupe("mod_offences", "group_key, user_id, message_id")
    # A message without an id (some platforms' system messages) cannot be told apart: not keyed.
    op.create_index("ux_mod_offences_message", "mod_offences", ["group_key", "user_id", "message_id"], unique=True,
                    sqlite_where=HAS_ID, postgresql_where=HAS_ID)
    _dedupe("mod_log", "group_key, message_id, plugin, dry_run")
    op.create_index("ux_mod_log_message", "mod_log", ["group_key", "message_id", "plugin", "dry_run"], unique=True,
                    sqlite_where=HAS_ID, postgresql_where=HAS_ID)


def downgrade() -> None:
    op.drop_index("ux_mod_log_message", "mod_log")
    op.drop_index("ux_mod_offences_message", "mod_offences")
    op.drop_index("ix_schedule_claims_unsent", "schedule_claims")
    with op.batch_alter_table("schedule_claims") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("sent_at")
