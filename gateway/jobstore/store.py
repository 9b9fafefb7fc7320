"""The job store: the database and the blob stores, opened (and migrated) when the gateway starts. docling's task
store (``gateway.docling_serve.tasks``) is built on its database and ``task_blobs``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config import BatchSettings
from gateway.jobstore.blobs import BlobDir, Blobs, DatabaseBlobs
from gateway.jobstore.database import database_url, open_database, open_lease_database, sole_gateway_lock
from gateway.jobstore.files import FileStore
from gateway.jobstore.jobs import BatchStore

FILES_DIR = "files"
TASKS_DIR = "tasks"


@dataclass
class JobStore:
    database: AsyncEngine
    leases: AsyncEngine  # the same database, renewals only
    files: FileStore
    batches: BatchStore
    task_blobs: Blobs  # conversion tasks' inputs and answers
    lock: int | None = None  # SQLite: the lock that keeps a second gateway off the file

    @classmethod
    async def open(cls, settings: BatchSettings) -> JobStore:
        assert settings.data_dir, "the Batch API needs a data directory"
        data_dir = Path(settings.data_dir).expanduser()
        data_dir.mkdir(parents=True, exist_ok=True)
        url = database_url(data_dir, settings.database_url)
        lock = sole_gateway_lock(url)
        try:
            database = await open_database(url)
        except BaseException:
            if lock is not None:
                os.close(lock)
            raise
        leases = open_lease_database(url)
        files = FileStore(database, _blobs(settings.blob_store, database, data_dir / FILES_DIR))
        task_blobs = _blobs(settings.blob_store, database, data_dir / TASKS_DIR)
        batches = BatchStore(database, files, settings.max_queued_batch_requests_per_key, leases)
        return cls(database, leases, files, batches, task_blobs, lock)

    async def close(self) -> None:
        await self.leases.dispose()
        await self.database.dispose()
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _blobs(kind: str, database: AsyncEngine, folder: Path) -> Blobs:
    """``db``: one table for files and tasks alike (their ids never collide); ``dir``: a folder each."""
    return DatabaseBlobs(database) if kind == "db" else BlobDir(folder)
