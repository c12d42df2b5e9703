"""eventfold: the effects ledger of reactions.

Revision ID: ef0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ef0001"
down_revision = None
branch_labels = ("eventfold",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eventfold_effects",
        sa.Column("reaction", sa.String(100), primary_key=True),
        sa.Column("effect_key", sa.String(500), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("eventfold_effects")
