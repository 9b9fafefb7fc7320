"""File contents on disk, one file per id, written atomically: a half-written file never appears under its id."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

PARTIAL_PREFIX = ".partial-"


class BlobDir:
    """``root/<file id>``; contents go to a temporary file first, are fsynced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def write(self, file_id: str, chunks: Iterable[bytes]) -> int:
        """Blocking (run it in a thread); returns the size written."""
        descriptor, partial = tempfile.mkstemp(dir=self.root, prefix=PARTIAL_PREFIX)
        try:
            size = 0
            with os.fdopen(descriptor, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.path(file_id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        self._sync_directory()  # the rename itself survives a power cut
        return size

    def remove(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(file_id).unlink()

    def _sync_directory(self) -> None:
        descriptor = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
