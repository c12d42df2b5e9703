"""reservations: when a reservation's hold was last extended.

Revision ID: reservations0003
Revises: reservations0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "reservations0003"
down_revision = "reservations0002"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("reservations", sa.Column("extended_at", Timestamp, nullable=True))


def downgrade() -> None:
    op.drop_column("reservations", "extended_at")
