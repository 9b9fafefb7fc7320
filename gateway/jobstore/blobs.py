"""Blob stores: the job store's file contents (uploads, batch outputs, conversion tasks' inputs and answers).

Two behind one small async interface (``Blobs``): ``BlobDir``, one file per id under ``--data-dir`` (gateways
on several machines share it over NFS), and ``DatabaseBlobs``, rows of the ``blob_chunks`` table of the job
database (``--blob-store db``: no shared disk needed). Either way a half-written blob never appears under its id, a
missing one reads as ``FileNotFoundError``, and blobs move in chunks both ways: a batch output of gigabytes is
written and downloaded with the gateway's memory bounded by a chunk, not by the blob.

Chunked rows rather than PostgreSQL's large objects: the same code serves SQLite, a deleted row takes its data with
it (a large object outlives its reference until ``lo_unlink``), and each statement stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.jobstore.database import finished_when_cancelled, interruptible, to_the_end
from gateway.jobstore.tables import blob_chunks

PARTIAL_PREFIX = ".partial-"
CHUNK_BYTES = 1 << 20  # a blob moves (and sits in the database) in pieces of this size
Chunks = Iterable[bytes] | AsyncIterable[bytes]  # an iterable may block (a spooled upload): it is read in a thread


def write_atomically(path: Path, chunks: Iterable[bytes], *, private: bool = False) -> int:
    """Writes ``chunks`` to a temporary file beside ``path``, fsyncs it, renames it into place and fsyncs the folder:
    ``path`` is either absent or complete, even after a power cut. Blocking (run it in a thread); returns the size.

    ``private`` files are readable by their owner only; the others get the usual permissions (the umask's).
    """
    partial = _PartialFile(path, private)
    try:
        for chunk in chunks:
            partial.write(chunk)
        return partial.commit()
    except BaseException:
        partial.abort()
        raise


class _PartialFile:
    """A file written beside ``path`` under a temporary name, renamed into place by ``commit`` (blocking calls)."""

    def __init__(self, path: Path, private: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.partial = path.with_name(f"{PARTIAL_PREFIX}{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        self.out = os.fdopen(descriptor, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.size += len(chunk)

    def commit(self) -> int:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        os.replace(self.partial, self.path)
        _sync_directory(self.path.parent)  # the rename itself survives a power cut
        return self.size

    def abort(self) -> None:
        self.out.close()
        self.partial.unlink(missing_ok=True)


def _sync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Blobs(Protocol):
    async def write(self, blob_id: str, chunks: Chunks) -> int:
        """Stores the blob whole (replacing any under ``blob_id``); its size."""
        ...

    async def stream(self, blob_id: str) -> AsyncIterator[bytes]:
        """The blob's bytes, chunk by chunk; ``FileNotFoundError`` (raised here, before any chunk) when there is
        none."""
        ...

    async def read(self, blob_id: str) -> bytes:
        """The blob's bytes at once (a batch input, a task's inputs: bounded by the upload limits)."""
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

    async def write(self, blob_id: str, chunks: Chunks) -> int:
        if not isinstance(chunks, AsyncIterable):
            return await asyncio.to_thread(write_atomically, self.path(blob_id), chunks, private=True)
        # Produced on the event loop (a batch output): each chunk written in a thread, none held while waiting.
        partial = await asyncio.to_thread(_PartialFile, self.path(blob_id), True)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(partial.write, chunk)
            return await asyncio.to_thread(partial.commit)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(partial.abort))
            raise

    async def stream(self, blob_id: str) -> AsyncIterator[bytes]:
        opened = await asyncio.to_thread(self.path(blob_id).open, "rb")  # an unlink meanwhile: it reads on
        return _file_chunks(opened)

    async def read(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.path(blob_id).read_bytes)

    async def remove(self, blob_id: str) -> None:
        await asyncio.to_thread(self._unlink, blob_id)

    def _unlink(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(blob_id).unlink()


async def _file_chunks(opened: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(opened.read, CHUNK_BYTES):
            yield chunk
    finally:
        opened.close()


async def _pulled(chunks: Chunks) -> AsyncIterator[bytes]:
    """Any chunks, asynchronously: a plain iterable's items are each taken in a thread (it may block)."""
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
        return
    iterator = iter(chunks)

    def next_chunk() -> bytes | None:
        return next(iterator, None)

    while (chunk := await asyncio.to_thread(next_chunk)) is not None:  # type: ignore[arg-type]
        yield chunk


@finished_when_cancelled
class DatabaseBlobs:
    """Rows of ``CHUNK_BYTES`` in ``blob_chunks``. A blob is written under a partial id, a short transaction per
    chunk (SQLite's one writer is never held for long), then renamed to its id in one transaction: it is whole
    or absent. A write that fails removes its rows; one cut off by a crash leaves rows under a partial id that
    nothing reads, as ``BlobDir`` leaves a partial file."""

    def __init__(self, database: AsyncEngine) -> None:
        self._database = database

    @interruptible  # a large blob takes a while; cut off, it removes what it wrote (each statement runs to its end)
    async def write(self, blob_id: str, chunks: Chunks) -> int:
        partial = f"{PARTIAL_PREFIX}{secrets.token_hex(12)}"
        size, seq, pending = 0, 0, bytearray()
        try:
            async for chunk in _pulled(chunks):
                pending += chunk
                size += len(chunk)
                while len(pending) >= CHUNK_BYTES:
                    await self._insert(partial, seq, bytes(pending[:CHUNK_BYTES]))
                    del pending[:CHUNK_BYTES]
                    seq += 1
            if pending or seq == 0:  # an empty blob is one empty chunk: present, and 0 bytes
                await self._insert(partial, seq, bytes(pending))
            await self._rename(partial, blob_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.remove(partial)
            raise
        return size

    @to_the_end
    async def _insert(self, blob_id: str, seq: int, data: bytes) -> None:
        async with self._database.begin() as connection:
            await connection.execute(insert(blob_chunks).values(blob_id=blob_id, seq=seq, data=data))

    @to_the_end
    async def _rename(self, partial: str, blob_id: str) -> None:
        async with self._database.begin() as connection:
            await connection.execute(delete(blob_chunks).where(blob_chunks.c.blob_id == blob_id))
            await connection.execute(
                update(blob_chunks).where(blob_chunks.c.blob_id == partial).values(blob_id=blob_id)
            )

    async def stream(self, blob_id: str) -> AsyncIterator[bytes]:
        first = await self._chunk(blob_id, 0)
        if first is None:
            raise FileNotFoundError(blob_id)
        return self._chunks(blob_id, first)

    async def _chunks(self, blob_id: str, first: bytes) -> AsyncIterator[bytes]:
        yield first
        seq = 1
        while (chunk := await self._chunk(blob_id, seq)) is not None:  # one row in memory at a time
            yield chunk
            seq += 1

    async def _chunk(self, blob_id: str, seq: int) -> bytes | None:
        statement = select(blob_chunks.c.data).where(blob_chunks.c.blob_id == blob_id, blob_chunks.c.seq == seq)
        async with self._database.connect() as connection:
            data = (await connection.execute(statement)).scalar()
        return None if data is None else bytes(data)

    async def read(self, blob_id: str) -> bytes:
        return b"".join([chunk async for chunk in await self.stream(blob_id)])

    async def remove(self, blob_id: str) -> None:
        async with self._database.begin() as connection:
            await connection.execute(delete(blob_chunks).where(blob_chunks.c.blob_id == blob_id))
