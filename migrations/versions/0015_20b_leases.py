"""Leases: one owner process at a time for each group (``group:<platform>:<id>``) and for each account
whose platform hands every update to one receiver only (``account:<platform>:<id>``). A lease lasts while
its owner's heartbeat (``lease_owners``) does: an owner renews one row, however many groups it holds.

Revision ID: 0015_20b_leases
Revises: 0014_24_relay
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_20b_leases"
down_revision = "0014_24_relay"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lease_owners",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leases_owner", "leases", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_leases_owner", "leases")
    op.drop_table("leases")
    op.drop_table("lease_owners")
