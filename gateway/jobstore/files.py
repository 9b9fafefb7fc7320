"""Uploaded and generated files: a row in ``files`` per file, its contents in a blob store (``blobs.py``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

from sqlalchemy import RowMapping, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.datastructures import State

from gateway.errors import NotFound
from gateway.jobstore.blobs import Blobs, Chunks
from gateway.jobstore.database import finished_when_cancelled, interruptible
from gateway.jobstore.rows import owned_page, owned_row
from gateway.jobstore.tables import files
from gateway.jobstore.wire import FileList, FileListQuery, FileObject

SWEEP_BATCH = 500  # files deleted per statement: far below any database's limit on bound parameters


def kept_files(state: State) -> FileStore | None:
    """The app's file store, when the server keeps files (it has a data directory)."""
    jobs = getattr(state, "jobs", None)
    return jobs.files if jobs is not None else None


def new_file_id() -> str:
    return f"file-{secrets.token_hex(12)}"


def file_object(row: RowMapping) -> FileObject:
    return FileObject.of(row["id"], row["bytes"], row["created_at"], row["filename"], row["purpose"])


@finished_when_cancelled
class FileStore:
    def __init__(self, database: AsyncEngine, blobs: Blobs) -> None:
        self._database = database
        self._blobs = blobs

    async def read(self, file_id: str) -> bytes:
        """A file's contents; ``FileNotFoundError`` if it was deleted meanwhile."""
        return await self._blobs.read(file_id)

    async def stream(self, file_id: str) -> AsyncIterator[bytes]:
        """A file's contents chunk by chunk (a download of any size); ``FileNotFoundError`` as ``read``."""
        return await self._blobs.stream(file_id)

    async def create(self, owner: str, filename: str, purpose: str, chunks: Chunks) -> FileObject:
        """Contents first (atomically), then the row: a file is listed only once it is whole."""
        file_id = new_file_id()
        size = await self.write_contents(file_id, chunks)
        async with self._database.begin() as connection:
            return await self.add_row(connection, file_id, owner, filename, purpose, size)

    async def add_row(
        self, connection: AsyncConnection, file_id: str, owner: str, filename: str, purpose: str, size: int
    ) -> FileObject:
        """The row of a file already written with ``write_contents`` (inside the caller's transaction)."""
        filename = filename.replace("\x00", "")  # PostgreSQL text cannot hold NUL
        created = FileObject.of(file_id, size, int(time.time()), filename, purpose)
        await connection.execute(
            insert(files).values(
                owner=owner, **created.model_dump(include={"id", "bytes", "created_at", "filename", "purpose"})
            )
        )
        return created

    @interruptible  # the blob store removes what it wrote when cut off
    async def write_contents(self, file_id: str, chunks: Chunks) -> int:
        return await self._blobs.write(file_id, chunks)

    async def remove_contents(self, file_id: str) -> None:
        """Contents written with ``write_contents`` that no row will point at."""
        await self._blobs.remove(file_id)

    async def get(self, owner: str, file_id: str, param: str = "id") -> FileObject:
        async with self._database.connect() as connection:
            row = await owned_row(connection, files, owner, file_id)
        if row is None:
            raise NotFound(f"No such File object: {file_id}", param=param)
        return file_object(row)

    async def get_signed(self, file_id: str) -> FileObject:
        """A file whoever owns it: for a signed URL, whose signature (checked by the caller) is the authority."""
        async with self._database.connect() as connection:
            row = (await connection.execute(select(files).where(files.c.id == file_id))).mappings().first()
        if row is None:
            raise NotFound(f"No such File object: {file_id}", param="id")
        return file_object(row)

    async def page(self, owner: str, query: FileListQuery) -> FileList:
        statement = select(files).where(files.c.owner == owner)
        if query.purpose:
            statement = statement.where(files.c.purpose == query.purpose)
        async with self._database.connect() as connection:
            rows = await owned_page(
                connection,
                statement,
                files,
                owner=owner,
                after=query.after,
                limit=query.limit,
                ascending=query.order == "asc",
                kind="File",
            )
        data = [file_object(row) for row in rows[: query.limit]]
        return FileList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=len(rows) > query.limit,
        )

    async def delete(self, owner: str, file_id: str) -> None:
        await self.get(owner, file_id)
        async with self._database.begin() as connection:
            deleted = await connection.execute(delete(files).where(files.c.owner == owner, files.c.id == file_id))
        if deleted.rowcount == 0:
            raise NotFound(f"No such File object: {file_id}", param="id")
        await self.remove_contents(file_id)

    async def sweep(self, purpose: str, created_before: int) -> int:
        """Deletes every key's files of ``purpose`` created before ``created_before`` (rows, then contents); how
        many. For files the gateway makes and keeps for a while (PaddleOCR's job results), whoever made them."""
        swept = 0
        while True:
            stale = select(files.c.id).where(files.c.purpose == purpose, files.c.created_at < created_before)
            async with self._database.begin() as connection:
                ids = list((await connection.execute(stale.limit(SWEEP_BATCH))).scalars())
                if ids:
                    await connection.execute(delete(files).where(files.c.id.in_(ids)))
            for file_id in ids:
                await self.remove_contents(file_id)
            swept += len(ids)
            if len(ids) < SWEEP_BATCH:
                return swept
