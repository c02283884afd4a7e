"""Admission: pending verifications and introductions, failed attempts, member tags.

Revision ID: 0005_admission
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_admission"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admission_cases",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_admission_cases_deadline", "admission_cases", ["kind", "deadline"])
    op.create_table(
        "admission_strikes",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "member_tags",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("tag", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_member_tags_value", "member_tags", ["group_key", "tag", "value"])


def downgrade() -> None:
    op.drop_index("ix_member_tags_value", "member_tags")
    op.drop_table("member_tags")
    op.drop_table("admission_strikes")
    op.drop_index("ix_admission_cases_deadline", "admission_cases")
    op.drop_table("admission_cases")
