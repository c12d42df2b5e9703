"""reservations: an index for the expiry sweep's query (holding reservations by deadline).

Revision ID: reservations0002
Revises: reservations0001
Create Date: 2026-11-23

The sweep asks for reservations that are accepted or secured with ``hold_until`` passed,
oldest deadline first; without this index it scans every row of its statuses.
"""

from __future__ import annotations

from alembic import op

revision = "reservations0002"
down_revision = "reservations0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_reservations_due", "reservations", ["status", "hold_until", "reservation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_reservations_due", "reservations")
