"""File contents in the database, for ``--blob-store db`` (gateways without a shared disk).

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # bytea on PostgreSQL, BLOB on SQLite.
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blobs")
