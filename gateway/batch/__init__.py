"""OpenAI's Files and Batch APIs on a durable job store (SQLite under ``--data-dir``, or PostgreSQL)."""
