"""eventfold: the deadlines of workflow instances.

Revision ID: ef0002
Revises: ef0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ef0002"
down_revision = "ef0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eventfold_deadlines",
        sa.Column("workflow", sa.String(100), primary_key=True),
        sa.Column("stream_id", sa.String(500), primary_key=True),
        sa.Column("deadline_key", sa.String(100), primary_key=True),
        sa.Column("due_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_eventfold_deadlines_due_at", "eventfold_deadlines", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_eventfold_deadlines_due_at", "eventfold_deadlines")
    op.drop_table("eventfold_deadlines")
