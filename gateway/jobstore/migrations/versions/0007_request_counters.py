"""Each batch's request counts kept on its row, updated with every answer: a poll reads one row instead of
counting its requests (50,000 rows for a full batch, polled by every client every few seconds).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTERS = ("requests_total", "requests_completed", "requests_failed")


def upgrade() -> None:
    with op.batch_alter_table("batches") as table:
        for name in COUNTERS:
            table.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    rows = "SELECT count(*) FROM batch_requests WHERE batch_id = batches.id"
    op.execute(
        f"UPDATE batches SET requests_total = ({rows}), "
        f"requests_completed = ({rows} AND state = 'completed'), requests_failed = ({rows} AND state = 'failed')"
    )


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        for name in reversed(COUNTERS):
            table.drop_column(name)
