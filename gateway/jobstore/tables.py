"""The job store's tables (SQLAlchemy Core). Migrations in ``migrations/`` create and change them.

Every row carries ``owner``: a hash of the API key that made it (empty without keys), so one key never sees
another's files or batches. Integer ``seq`` keys give a stable creation order for listing and paging.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

files = Table(
    "files",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_files_owner", "owner", "seq"),
)

batches = Table(
    "batches",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(64), nullable=False),
    Column("completion_window", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("metadata", JSON(none_as_null=True), nullable=True),
    Column("errors", JSON(none_as_null=True), nullable=True),
    Column("output_file_id", String(64), nullable=True),
    Column("error_file_id", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    *(
        Column(f"{moment}_at", BigInteger, nullable=True)
        for moment in ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
    ),
    # Which gateway works on the batch, until when: another one takes over once the lease lapses.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("input_lines", Integer, nullable=True),  # counted at creation, for the per-key limit on queued work
    # A lifecycle step that failed: how often, and when it may be tried again (it fails the batch at the bound).
    Column("step_failures", Integer, nullable=False, server_default="0"),
    Column("step_retry_at", BigInteger, nullable=True),
    # Its requests, counted as they are answered (in the answer's transaction): polls read these, not the rows.
    Column("requests_total", Integer, nullable=False, server_default="0"),
    Column("requests_completed", Integer, nullable=False, server_default="0"),
    Column("requests_failed", Integer, nullable=False, server_default="0"),
    Index("ix_batches_owner", "owner", "seq"),
    Index("ix_batches_status", "status"),
)

# A batch's requests not answered yet, from its counters (no request row read).
UNANSWERED = batches.c.requests_total - batches.c.requests_completed - batches.c.requests_failed

# One row per line of a batch's input file. A result is committed here before it counts, so a crash never loses
# a finished request, and the output file is assembled from these rows once, at the end. Gateways claim pending
# rows in small units, each under a lease of its own (``claims.py``).
batch_requests = Table(
    "batch_requests",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("line", Integer, primary_key=True),  # 1-based line number in the input file
    Column("custom_id", Text, nullable=True),  # None: the line was not a valid request object
    Column("body", JSON(none_as_null=True), nullable=True),
    Column("state", String(16), nullable=False),  # pending, completed, failed
    Column("attempts", Integer, nullable=False, default=0),  # engine runs started; more than 1 only after a crash
    Column(
        "result", JSON(none_as_null=True), nullable=True
    ),  # the output line, exactly as written to the output/error file
    Column("lease_owner", String(64), nullable=True),  # the gateway running it; cleared when it is answered
    Column("lease_expires_at", BigInteger, nullable=True),
    Index("ix_batch_requests_claim", "batch_id", "state", "line"),
    Index("ix_batch_requests_lease", "lease_expires_at"),
)

# docling-serve style async conversions (``/v1/convert/*/async``): the request, where it stands, and who works on
# it. Inputs and the answer live as blobs beside the files (``<id>-in-<n>``, ``<id>-result``); ``expires_at`` is
# set when it finishes (the result is kept for ``--task-results-hours``).
convert_tasks = Table(
    "convert_tasks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending, started, success, partial_success, failure
    Column("request", JSON, nullable=False),  # options, target, and each input's filename and content type
    Column("num_docs", Integer, nullable=False),
    Column("num_succeeded", Integer, nullable=False, default=0),
    Column("num_failed", Integer, nullable=False, default=0),
    Column("error_message", Text, nullable=True),
    Column("result_type", String(64), nullable=True),  # the answer's content type
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Index("ix_convert_tasks_status", "status", "seq"),
)

# File contents with ``--blob-store db`` (``blobs.py``): uploads and batch outputs under their file id, conversion
# tasks' inputs and answers under ``<task id>-in-<n>`` / ``<task id>-result``.
# A blob of --blob-store db: its bytes in pieces of up to 1 MiB, in order (blobs.py).
blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("blob_id", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
