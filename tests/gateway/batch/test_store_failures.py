"""How the job store meets failure: which database errors count as "unreachable" (a 503 and a retry) rather than a
bug (a 500), and a long output write cut off — by a stopping worker or a failing producer — leaves no file behind,
on both blob stores."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.config import BatchSettings
from gateway.jobstore.database import unreachable
from gateway.jobstore.store import JobStore


class PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DBAPIError("SELECT 1", {}, PostgresError("57P03")), True),  # the database system is starting up
        (DBAPIError("SELECT 1", {}, PostgresError("08006")), True),  # connection failure
        (DBAPIError("SELECT 1", {}, PostgresError("53300")), True),  # too many clients
        (OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (OSError("Multiple exceptions: [Errno 111] …, [Errno 99] …"), True),  # a host with two addresses
        (PoolTimeout("QueuePool limit reached"), True),
        (OperationalError("SELECT x", {}, sqlite3.OperationalError("no such table: x")), False),  # a bug
        (ProgrammingError("SELEC 1", {}, PostgresError("42601")), False),  # a syntax error
        (DBAPIError("INSERT", {}, PostgresError("23505")), False),  # a unique violation
        (ValueError("not a database error"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_only_outages_count_as_unreachable(error: Exception, expected: bool) -> None:
    assert unreachable(error) is expected


@pytest.mark.parametrize("blob_store", ["dir", "db"])
def test_an_output_write_cut_off_leaves_nothing_behind(blob_store: str, tmp_path: Path) -> None:
    async def run() -> tuple[list[str], list[str]]:
        jobs = await JobStore.open(BatchSettings(data_dir=str(tmp_path), blob_store=blob_store))
        started = asyncio.Event()

        async def endless() -> AsyncIterator[bytes]:  # an output of millions of rows, the worker stopped meanwhile
            yield b"x" * (3 << 20)
            started.set()
            await asyncio.Event().wait()
            yield b""

        async def failing() -> AsyncIterator[bytes]:
            yield b"y" * (3 << 20)
            raise ConnectionError("the database went away")

        try:
            writing = asyncio.create_task(jobs.batches.write_outputs({"output": endless()}))
            await started.wait()
            writing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await writing
            with pytest.raises(ConnectionError):
                await jobs.batches.write_outputs({"output": _one(b"z\n"), "error": failing()})
            async with jobs.database.connect() as connection:
                rows = list((await connection.execute(text("SELECT DISTINCT blob_id FROM blob_chunks"))).scalars())
            files = sorted(path.name for path in (tmp_path / "files").iterdir()) if blob_store == "dir" else []
            return rows, files
        finally:
            await jobs.close()

    assert asyncio.run(run()) == ([], [])


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
