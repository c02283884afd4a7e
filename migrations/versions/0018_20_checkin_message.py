"""Check-ins remember the message that made them: the same 签到 sent again by the platform (after a restart)
is that check-in, answered once from the outbox, not a second one to refuse.

Revision ID: 0018_20_checkin_message
Revises: 0017_20_outbox
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_20_checkin_message"
down_revision = "0017_20_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkins", sa.Column("message_id", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkins") as batch:
        batch.drop_column("message_id")
