"""Upgrading a job store that holds data: a database at revision 0005 (whole-blob rows, counts read from the
request rows) keeps every blob and every batch's counts after the migrations to chunked blobs and counters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.jobstore.blobs import DatabaseBlobs
from gateway.jobstore.database import database_url, migrate, open_database


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_blobs_and_counts_survive_themigrate(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = database_url(tmp_path, request.getfixturevalue("postgres_url") if database == "postgresql" else None)
    blob = bytes(range(256)) * 5000  # over a chunk, NUL bytes included

    async def run() -> tuple[bytes, list[tuple[int, int, int]]]:
        old = create_async_engine(url)
        async with old.begin() as connection:
            await connection.run_sync(migrate, "0005")
            await connection.execute(text("INSERT INTO blobs (id, data) VALUES ('file-old', :data)"), {"data": blob})
            await connection.execute(
                text(
                    "INSERT INTO batches (id, owner, endpoint, input_file_id, completion_window, status, created_at, "
                    "expires_at) VALUES ('batch_old', 'me', '/v1/chat/completions', 'file-old', '24h', 'in_progress', "
                    "0, 9999999999)"
                )
            )
            for line, state in enumerate(["completed", "completed", "failed", "pending"], start=1):
                await connection.execute(
                    text(
                        "INSERT INTO batch_requests (batch_id, line, state, result, attempts) "
                        "VALUES (:b, :l, :s, :r, 0)"
                    ),
                    {"b": "batch_old", "l": line, "s": state, "r": json.dumps(None)},
                )
        await old.dispose()
        engine = await open_database(url)  # migrates to head, as a gateway's start does
        try:
            async with engine.connect() as connection:
                counts = await connection.execute(
                    text("SELECT requests_total, requests_completed, requests_failed FROM batches")
                )
                found = [tuple(row) for row in counts]
            return await DatabaseBlobs(engine).read("file-old"), found
        finally:
            await engine.dispose()

    data, counts = asyncio.run(run())
    assert data == blob and counts == [(4, 2, 1)]
