"""``write_atomically``: the one atomic writer of the job store's blobs and the folder CLI's results; and the
two blob stores' shared contract."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.batch.blobs import BlobDir, Blobs, DatabaseBlobs, write_atomically
from gateway.batch.database import database_url, open_database


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


def test_the_folder_store_keeps_the_contract(tmp_path: Path) -> None:
    asyncio.run(_contract(BlobDir(tmp_path / "files")))


def test_the_database_store_keeps_the_contract(tmp_path: Path) -> None:
    async def run() -> None:
        database = await open_database(database_url(tmp_path, None))
        try:
            await _contract(DatabaseBlobs(database))
        finally:
            await database.dispose()

    asyncio.run(run())
