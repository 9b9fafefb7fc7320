"""A batch's lifecycle step that failed: how often, and not to be tried again before when.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("step_failures", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("step_retry_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_column("step_retry_at")
        table.drop_column("step_failures")
