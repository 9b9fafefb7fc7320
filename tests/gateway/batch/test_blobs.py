"""``write_atomically``: the one atomic writer of the job store's blobs and the folder CLI's results."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from gateway.batch.blobs import BlobDir, write_atomically


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
