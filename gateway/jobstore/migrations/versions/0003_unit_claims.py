"""Batch requests claimed in small units by every gateway: a lease per request row, the input's line count.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_requests") as table:
        table.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        table.add_column(sa.Column("lease_expires_at", sa.BigInteger, nullable=True))
    # Claims read a batch's pending rows in line order; live leases are found by their expiry.
    op.drop_index("ix_batch_requests_state", table_name="batch_requests")
    op.create_index("ix_batch_requests_claim", "batch_requests", ["batch_id", "state", "line"])
    op.create_index("ix_batch_requests_lease", "batch_requests", ["lease_expires_at"])
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("input_lines", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_column("input_lines")
    op.drop_index("ix_batch_requests_lease", table_name="batch_requests")
    op.drop_index("ix_batch_requests_claim", table_name="batch_requests")
    op.create_index("ix_batch_requests_state", "batch_requests", ["batch_id", "state"])
    with op.batch_alter_table("batch_requests") as table:
        table.drop_column("lease_expires_at")
        table.drop_column("lease_owner")
