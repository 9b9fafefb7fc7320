"""Blob stores: the job store's file contents (uploads, batch outputs, conversion tasks' inputs and answers).

Two behind one small async interface (``Blobs``): ``BlobDir``, one file per id under ``--data-dir`` (gateways
on several machines share it over NFS), and ``DatabaseBlobs``, the ``blobs`` table of the job database
(``--blob-store db``: no shared disk needed). Either way a half-written blob never appears under its id, and a
missing one reads as ``FileNotFoundError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.batch.database import finished_when_cancelled
from gateway.batch.tables import blobs

PARTIAL_PREFIX = ".partial-"


def write_atomically(path: Path, chunks: Iterable[bytes], *, private: bool = False) -> int:
    """Writes ``chunks`` to a temporary file beside ``path``, fsyncs it, renames it into place and fsyncs the folder:
    ``path`` is either absent or complete, even after a power cut. Blocking (run it in a thread); returns the size.

    ``private`` files are readable by their owner only; the others get the usual permissions (the umask's).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{PARTIAL_PREFIX}{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        size = 0
        with os.fdopen(descriptor, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)  # the rename itself survives a power cut
    return size


def _sync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Blobs(Protocol):
    async def write(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        """Stores the blob whole (replacing any under ``blob_id``); its size. ``chunks`` may block: read in a thread."""
        ...

    async def read(self, blob_id: str) -> bytes:
        """The blob's bytes; ``FileNotFoundError`` when there is none."""
        ...

    async def remove(self, blob_id: str) -> None:
        """Gone, if it was there."""
        ...


class BlobDir:
    """``root/<id>``, each written with ``write_atomically``, readable by the gateway's user only."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id

    async def write(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        return await asyncio.to_thread(write_atomically, self.path(blob_id), chunks, private=True)

    async def read(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.path(blob_id).read_bytes)

    async def remove(self, blob_id: str) -> None:
        await asyncio.to_thread(self._unlink, blob_id)

    def _unlink(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(blob_id).unlink()


@finished_when_cancelled
class DatabaseBlobs:
    """A row per blob in the ``blobs`` table: one transaction writes it, so it is whole or absent.

    Meant for results of modest size (each blob is held in memory while it moves); the limits that bound them
    (``--max-batch-file-mb``, ``--max-body-mb``) keep each one well under PostgreSQL's 1 GB per value."""

    def __init__(self, database: AsyncEngine) -> None:
        self._database = database

    async def write(self, blob_id: str, chunks: Iterable[bytes]) -> int:
        data = await asyncio.to_thread(b"".join, chunks)  # an upload's chunks come from a (blocking) spooled file
        async with self._database.begin() as connection:
            await connection.execute(delete(blobs).where(blobs.c.id == blob_id))
            await connection.execute(insert(blobs).values(id=blob_id, data=data))
        return len(data)

    async def read(self, blob_id: str) -> bytes:
        async with self._database.connect() as connection:
            data = (await connection.execute(select(blobs.c.data).where(blobs.c.id == blob_id))).scalar()
        if data is None:
            raise FileNotFoundError(blob_id)
        return bytes(data)

    async def remove(self, blob_id: str) -> None:
        async with self._database.begin() as connection:
            await connection.execute(delete(blobs).where(blobs.c.id == blob_id))
