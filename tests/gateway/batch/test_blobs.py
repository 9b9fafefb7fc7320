"""``write_atomically``: the one atomic writer of the job store's blobs and the folder CLI's results; and the
two blob stores' shared contract."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.jobstore.blobs import CHUNK_BYTES, PARTIAL_PREFIX, BlobDir, Blobs, DatabaseBlobs, write_atomically
from gateway.jobstore.database import database_url, open_database


def test_uploaded_files_are_private_and_folder_results_follow_the_umask(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path / "files")
    assert asyncio.run(blobs.write("file-1", [b"secret ", b"data"])) == len(b"secret data")
    result = tmp_path / "out" / "receipts" / "a.png.txt"
    previous = os.umask(0o022)
    try:
        assert write_atomically(result, [b"text"]) == 4
    finally:
        os.umask(previous)
    assert stat.S_IMODE(blobs.path("file-1").stat().st_mode) == 0o600
    assert stat.S_IMODE(result.stat().st_mode) == 0o644  # as any file the user writes, readable by others
    assert blobs.path("file-1").read_bytes() == b"secret data" and result.read_text() == "text"
    assert sorted(path.name for path in result.parent.iterdir()) == ["a.png.txt"]  # no partial file left


async def _contract(blobs: Blobs) -> None:
    assert await blobs.write("file-1", [b"first"]) == 5
    assert await blobs.write("file-1", iter([b"sec", b"ond"])) == 6  # a second write replaces the first
    assert await blobs.read("file-1") == b"second"

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await blobs.write("file-2", broken())
    with pytest.raises(FileNotFoundError):
        await blobs.read("file-2")  # a failed write leaves nothing under its id
    await blobs.remove("file-1")
    await blobs.remove("file-1")  # removing what is gone is no error
    with pytest.raises(FileNotFoundError):
        await blobs.read("file-1")
    with pytest.raises(FileNotFoundError):
        await blobs.stream("file-1")  # raised before any chunk: a route can still answer 404

    assert await blobs.write("empty", []) == 0 and await blobs.read("empty") == b""  # present, and empty

    # Several chunks' worth, from an async producer (a batch output), streamed back in bounded pieces.
    data = os.urandom(CHUNK_BYTES * 5 // 2)

    async def produced() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            await asyncio.sleep(0)
            yield data[start : start + 64 * 1024]

    assert await blobs.write("big", produced()) == len(data)
    pieces = [piece async for piece in await blobs.stream("big")]
    assert b"".join(pieces) == data and max(map(len, pieces)) <= CHUNK_BYTES and len(pieces) >= 3

    async def failing() -> AsyncIterator[bytes]:
        yield data[: CHUNK_BYTES + 1]  # past one chunk: rows were written before it failed
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        await blobs.write("big", failing())
    assert await blobs.read("big") == data  # the blob it would have replaced is untouched


def test_the_folder_store_keeps_the_contract(tmp_path: Path) -> None:
    asyncio.run(_contract(BlobDir(tmp_path / "files")))
    assert sorted(path.name for path in (tmp_path / "files").iterdir()) == ["big", "empty"]  # no partial file left


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_database_store_keeps_the_contract(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = database_url(tmp_path, request.getfixturevalue("postgres_url") if database == "postgresql" else None)

    async def run() -> list[str]:
        engine = await open_database(url)
        try:
            await _contract(DatabaseBlobs(engine))
            async with engine.connect() as connection:
                names = await connection.execute(text("SELECT DISTINCT blob_id FROM blob_chunks ORDER BY blob_id"))
                return list(names.scalars())
        finally:
            await engine.dispose()

    names = asyncio.run(run())
    assert names == ["big", "empty"] and not any(name.startswith(PARTIAL_PREFIX) for name in names)
