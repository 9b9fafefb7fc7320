"""``--blob-store db`` blobs in chunks of up to 1 MiB (written and read a chunk at a time), the old whole-blob rows
moved over as single chunks.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_chunks",
        sa.Column("blob_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.execute("INSERT INTO blob_chunks (blob_id, seq, data) SELECT id, 0, data FROM blobs")
    op.drop_table("blobs")


def downgrade() -> None:
    blobs = op.create_table(
        "blobs",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT DISTINCT blob_id FROM blob_chunks")).scalars().all()
    for blob_id in ids:  # one blob in memory at a time, its chunks joined in order
        chunks = sa.text("SELECT data FROM blob_chunks WHERE blob_id = :id ORDER BY seq")
        data = b"".join(bytes(chunk) for chunk in connection.execute(chunks, {"id": blob_id}).scalars())
        connection.execute(sa.insert(blobs).values(id=blob_id, data=data))
    op.drop_table("blob_chunks")
