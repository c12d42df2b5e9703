"""catalog: the query table (catalog_items) and its versions table.

Revision ID: catalog0001
Revises:
Create Date: 2026-05-10

Tables that already exist are kept: a database whose tables were made by
``SqlProjection.create_tables`` (before this service had migrations) is adopted as is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "catalog0001"
down_revision = None
branch_labels = ("catalog",)
depends_on = None


def _missing(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _missing("catalog_items"):
        op.create_table(
            "catalog_items",
            sa.Column("item_id", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("price", sa.Integer, nullable=False),
            sa.Column("version", sa.BigInteger, nullable=False),
        )
    if _missing("catalog_view_versions"):
        op.create_table(
            "catalog_view_versions",
            sa.Column("stream_id", sa.String(255), primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("catalog_view_versions")
    op.drop_table("catalog_items")
