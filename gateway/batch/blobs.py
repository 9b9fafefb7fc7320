"""File contents on disk, one file per id, written atomically: a half-written file never appears under its id."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

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


class BlobDir:
    """``root/<file id>``, each written with ``write_atomically``, readable by the gateway's user only."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def write(self, file_id: str, chunks: Iterable[bytes]) -> int:
        """Blocking (run it in a thread); returns the size written."""
        return write_atomically(self.path(file_id), chunks, private=True)

    def remove(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(file_id).unlink()
