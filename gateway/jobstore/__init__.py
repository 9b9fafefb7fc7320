"""The job store: files, blobs, signed URLs, batches and their requests' claims, conversion tasks' table — SQLite under
``--data-dir`` or PostgreSQL, shared by every gateway on it. It imports nothing from the APIs built on it."""
