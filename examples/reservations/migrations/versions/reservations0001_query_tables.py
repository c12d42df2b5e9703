"""reservations: the query tables (reservations, stock_levels) and their versions table.

Revision ID: reservations0001
Revises:
Create Date: 2026-05-10

Tables that already exist are kept: a database whose tables were made by
``SqlProjection.create_tables`` (before this service had migrations) is adopted as is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "reservations0001"
down_revision = None
branch_labels = ("reservations",)
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _missing(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _missing("reservations"):
        op.create_table(
            "reservations",
            sa.Column("reservation_id", sa.String(64), primary_key=True),
            sa.Column("customer_id", sa.String(64), nullable=False),
            sa.Column("store_id", sa.String(64), nullable=False),
            sa.Column("sku", sa.String(64), nullable=False),
            sa.Column("quantity", sa.Integer, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("accepted_at", Timestamp, nullable=False),
            sa.Column("hold_until", Timestamp, nullable=False),
            sa.Column("secured_at", Timestamp, nullable=True),
            sa.Column("closed_at", Timestamp, nullable=True),
            sa.Column("closed_by", sa.String(16), nullable=True),
            sa.Column("reason", sa.String(600), nullable=True),
            sa.Column("version", sa.BigInteger, nullable=False),
        )
        op.create_index(
            "ix_reservations_customer",
            "reservations",
            ["customer_id", "accepted_at", "reservation_id"],
        )
        op.create_index(
            "ix_reservations_store",
            "reservations",
            ["store_id", "status", "accepted_at", "reservation_id"],
        )
        op.create_index(
            "ix_reservations_status", "reservations", ["status", "accepted_at", "reservation_id"]
        )
        op.create_index(
            "ix_reservations_accepted", "reservations", ["accepted_at", "reservation_id"]
        )
    if _missing("stock_levels"):
        op.create_table(
            "stock_levels",
            sa.Column("store_id", sa.String(64), primary_key=True),
            sa.Column("sku", sa.String(64), primary_key=True),
            sa.Column("on_hand", sa.Integer, nullable=False),
            sa.Column("held", sa.Integer, nullable=False),
            sa.Column("updated_at", Timestamp, nullable=False),
            sa.Column("version", sa.BigInteger, nullable=False),
        )
    if _missing("reservations_view_versions"):
        op.create_table(
            "reservations_view_versions",
            sa.Column("stream_id", sa.String(255), primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("reservations_view_versions")
    op.drop_table("stock_levels")
    op.drop_table("reservations")
