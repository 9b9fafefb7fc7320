"""Batches and their requests in the database: what the API reads and writes, and what the worker claims.

Status moves validating → in_progress → finalizing → completed, or to failed (the input is unusable),
cancelling → cancelled, or expired. Each request's result is committed on its own row before it counts.

Gateways sharing the database split the work: the requests in small units (``claims.py``), and each batch's
lifecycle steps — validating its input once, assembling its output once — under a short lease on the batch row
(``claim``), the final status written only from the status the step started from.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping, Text, and_, cast, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import Conflict, InvalidRequest, NotFound, RateLimited
from gateway.jobstore.claims import UnitClaims
from gateway.jobstore.database import database_now, finished_when_cancelled, interruptible
from gateway.jobstore.files import FileStore, new_file_id
from gateway.jobstore.lines import count_requests, output_lines
from gateway.jobstore.rows import owned_page, owned_row
from gateway.jobstore.tables import UNANSWERED, batch_requests, batches
from gateway.jobstore.wire import (
    Batch,
    BatchCreate,
    BatchError,
    BatchErrors,
    BatchList,
    BatchListQuery,
    RequestCounts,
)

COMPLETION_WINDOW_SECONDS = 24 * 3600
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
CANCELLABLE = ("validating", "in_progress")
OUTPUT_PURPOSE = "batch_output"
INSERT_CHUNK = 500
RESULTS_PAGE = 100  # rows of a batch read at once while its output is written
_STEPS = {"validating": "validated", "finalizing": "finalized", "cancelling": "cancelled", "in_progress": "finished"}


@finished_when_cancelled
class BatchStore:
    def __init__(
        self, database: AsyncEngine, files: FileStore, max_queued_per_key: int = 0, leases: AsyncEngine | None = None
    ) -> None:
        self._database = database
        self._leases = leases or database  # renewals' own connections
        self._files = files
        self._max_queued = max_queued_per_key  # 0: no limit
        self.units = UnitClaims(database, leases)

    # --- the API's side -------------------------------------------------------

    async def create(self, owner: str, request: BatchCreate) -> Batch:
        source = await self._files.get(owner, request.input_file_id, param="input_file_id")
        if source.purpose != "batch":
            raise InvalidRequest("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        try:
            data = await self._files.read(request.input_file_id)
        except FileNotFoundError:  # deleted since its row was read
            raise NotFound(f"No such File object: {request.input_file_id}", param="input_file_id") from None
        lines = await asyncio.to_thread(count_requests, data)
        await self._check_queue(owner, lines)
        now, batch_id = int(time.time()), f"batch_{secrets.token_hex(12)}"
        row = {
            "id": batch_id,
            "owner": owner,
            "endpoint": request.endpoint,
            "input_file_id": request.input_file_id,
            "completion_window": request.completion_window,
            "status": "validating",
            "metadata": request.metadata,
            "created_at": now,
            "expires_at": now + COMPLETION_WINDOW_SECONDS,
            "input_lines": lines,
        }
        async with self._database.begin() as connection:
            await connection.execute(insert(batches).values(**row))
        return await self.get(owner, batch_id)

    async def _check_queue(self, owner: str, lines: int) -> None:
        """429 when ``lines`` more requests would put the key past ``--max-queued-batch-requests-per-key``.

        Counted when the batch is created (its input lines), since validation happens later, elsewhere."""
        if not self._max_queued:
            return
        pending = select(func.coalesce(func.sum(UNANSWERED), 0)).where(
            batches.c.owner == owner, batches.c.status == "in_progress"
        )
        validating = select(func.coalesce(func.sum(batches.c.input_lines), 0)).where(
            batches.c.owner == owner, batches.c.status == "validating"
        )
        async with self._database.connect() as connection:
            queued = (await connection.execute(pending)).scalar_one() + (
                await connection.execute(validating)
            ).scalar_one()
        if queued + lines > self._max_queued:
            raise RateLimited(
                f"This batch's {lines} requests would put this API key's queued batch requests at "
                f"{queued + lines}, past the server's limit of {self._max_queued}. Wait for queued batches to "
                "finish, or split the input file.",
                param="input_file_id",
            )

    async def get(self, owner: str, batch_id: str) -> Batch:
        async with self._database.connect() as connection:
            row = await owned_row(connection, batches, owner, batch_id)
            if row is None:
                raise NotFound(f"No such Batch object: {batch_id}", param="batch_id")
            return _batch(row)

    async def page(self, owner: str, query: BatchListQuery) -> BatchList:
        statement = select(batches).where(batches.c.owner == owner)
        async with self._database.connect() as connection:
            rows = await owned_page(
                connection,
                statement,
                batches,
                owner=owner,
                after=query.after,
                limit=query.limit,
                ascending=False,
                kind="Batch",
            )
        data = [_batch(row) for row in rows[: query.limit]]
        return BatchList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=len(rows) > query.limit,
        )

    async def cancel(self, owner: str, batch_id: str) -> Batch:
        current = await self.get(owner, batch_id)
        if current.status not in (*CANCELLABLE, "cancelling", "cancelled"):
            raise Conflict(f"Cannot cancel a batch with status '{current.status}'.", param="batch_id")
        async with self._database.begin() as connection:
            await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status.in_(CANCELLABLE))
                .values(status="cancelling", cancelling_at=int(time.time()))
            )
        return await self.get(owner, batch_id)

    # --- the worker's side ----------------------------------------------------

    async def claim(self, worker: str, lease_seconds: int) -> RowMapping | None:
        """The oldest batch with a lifecycle step due that no other live gateway holds, now leased to ``worker``:
        validating, finalizing, cancelling or expired with none of its requests running, or with all answered."""
        now = database_now()
        free = and_(
            or_(batches.c.lease_owner.is_(None), batches.c.lease_owner == worker, batches.c.lease_expires_at < now),
            or_(batches.c.step_retry_at.is_(None), batches.c.step_retry_at <= now),  # a failed step waits its turn
        )
        pending = batch_requests.c.batch_id == batches.c.id, batch_requests.c.state == "pending"
        any_pending = exists().where(*pending)
        any_running = exists().where(*pending, batch_requests.c.lease_expires_at >= now)
        due = or_(
            batches.c.status.in_(("validating", "finalizing")),
            and_(batches.c.status == "cancelling", ~any_running),
            and_(batches.c.status == "in_progress", or_(~any_pending, and_(batches.c.expires_at <= now, ~any_running))),
        )
        async with self._database.begin() as connection:
            candidates = await connection.execute(
                select(batches.c.id).where(batches.c.status.in_(ACTIVE), free, due).order_by(batches.c.seq).limit(5)
            )
            for (batch_id,) in candidates.all():
                taken = await connection.execute(
                    update(batches)
                    .where(batches.c.id == batch_id, free)
                    .values(lease_owner=worker, lease_expires_at=database_now() + lease_seconds)
                )
                if taken.rowcount == 1:
                    return (await connection.execute(select(batches).where(batches.c.id == batch_id))).mappings().one()
        return None

    async def renew(self, batch_id: str, worker: str, lease_seconds: int) -> str:
        """Extends the lease; returns the batch's status (a cancel may have arrived)."""
        async with self._leases.begin() as connection:
            await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.lease_owner == worker)
                .values(lease_expires_at=database_now() + lease_seconds)
            )
            return str((await connection.execute(select(batches.c.status).where(batches.c.id == batch_id))).scalar())

    async def release(self, batch_id: str, worker: str) -> None:
        """The lifecycle step is done: the batch is free for whichever gateway has the next one."""
        async with self._database.begin() as connection:
            await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.lease_owner == worker)
                .values(lease_owner=None, lease_expires_at=None, step_failures=0, step_retry_at=None)
            )

    async def step_failed(self, batch_id: str, worker: str, reason: str, *, attempts: int, backoff: float) -> bool:
        """A lifecycle step of the batch failed: it is tried again after ``backoff`` seconds, doubled each time, and
        after ``attempts`` failures the batch ends failed with ``reason``. True when it ended so."""
        async with self._database.begin() as connection:
            row = (
                await connection.execute(
                    select(batches.c.step_failures, batches.c.status).where(batches.c.id == batch_id)
                )
            ).one()
            failures = row.step_failures + 1
            if failures < attempts:
                await connection.execute(
                    update(batches)
                    .where(batches.c.id == batch_id, batches.c.lease_owner == worker)
                    .values(
                        lease_owner=None,
                        lease_expires_at=None,
                        step_failures=failures,
                        step_retry_at=database_now() + round(backoff * 2 ** (failures - 1)),
                    )
                )
                return False
            message = (
                f"The batch could not be {_STEPS.get(row.status, 'processed')}: failed {failures} times ({reason})."
            )
            error = BatchErrors(data=[BatchError(code="server_error", message=message)]).model_dump()
            ended = await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status.in_(ACTIVE))
                .values(
                    status="failed", failed_at=int(time.time()), errors=error, lease_owner=None, lease_expires_at=None
                )
            )
            return ended.rowcount == 1

    async def release_leases(self, worker: str | None = None) -> None:
        """Frees the batch and unit leases of ``worker`` (all when None: a single gateway restarting on SQLite)."""
        statement = update(batches).values(lease_owner=None, lease_expires_at=None)
        if worker is not None:
            statement = statement.where(batches.c.lease_owner == worker)
        async with self._database.begin() as connection:
            await connection.execute(statement)
        await self.units.release_all(worker)

    async def start(self, batch_id: str, rows: Sequence[dict[str, Any]]) -> bool:
        """Validation passed: one row per input line and the batch in progress, in one transaction.

        False when the batch was cancelled while it was being validated."""
        async with self._database.begin() as connection:
            for start in range(0, len(rows), INSERT_CHUNK):
                await connection.execute(insert(batch_requests), list(rows[start : start + INSERT_CHUNK]))
            await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(
                    requests_total=len(rows),
                    requests_failed=sum(1 for row in rows if row["state"] == "failed"),  # lines that were no request
                )
            )
            started = await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status == "validating")
                .values(status="in_progress", in_progress_at=int(time.time()))
            )
            return started.rowcount == 1

    async def fail(self, batch_id: str, errors: list[BatchError]) -> None:
        errors_json = BatchErrors(data=errors).model_dump()
        async with self._database.begin() as connection:
            await _set_status(connection, batch_id, "failed", failed_at=int(time.time()), errors=errors_json)

    async def begin_finalizing(self, batch_id: str) -> bool:
        """in_progress → finalizing once every request is answered; True for the one gateway that moved it."""
        any_pending = exists().where(batch_requests.c.batch_id == batch_id, batch_requests.c.state == "pending")
        async with self._database.begin() as connection:
            moved = await connection.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status == "in_progress", ~any_pending)
                .values(status="finalizing", finalizing_at=int(time.time()))
            )
            return moved.rowcount == 1

    async def output(self, batch_id: str, kind: str, unfinished: tuple[str, str] | None) -> AsyncIterator[bytes]:
        """The ``output`` file (requests answered with 200) or the ``error`` file (the others, and with
        ``unfinished`` those never run), in input order, a page of rows at a time: memory holds one page, whatever
        the batch's size."""
        states = ("completed",) if kind == "output" else ("failed", "pending") if unfinished else ("failed",)
        after = -1
        while True:
            statement = (
                select(
                    batch_requests.c.line,
                    batch_requests.c.custom_id,
                    batch_requests.c.state,
                    cast(batch_requests.c.result, Text).label("result"),  # its stored text is the line: not parsed
                )
                .where(batch_requests.c.batch_id == batch_id, batch_requests.c.state.in_(states))
                .where(batch_requests.c.line > after)
                .order_by(batch_requests.c.line)
                .limit(RESULTS_PAGE)
            )
            async with self._database.connect() as connection:
                rows = (await connection.execute(statement)).mappings().all()
            if not rows:
                return
            after = rows[-1]["line"]
            yield await asyncio.to_thread(output_lines, rows, unfinished)

    @interruptible
    async def write_outputs(self, outputs: Mapping[str, AsyncIterable[bytes]]) -> dict[str, tuple[str, int]]:
        """Writes the output/error files — kind → (file id, size), those with lines only. Not held to its end when
        cancelled (an output can take minutes): whatever it wrote is removed then, and on any failure."""
        written: dict[str, tuple[str, int]] = {}
        try:
            for kind, chunks in outputs.items():
                file_id = new_file_id()
                written[kind] = (file_id, 0)
                if size := await self._files.write_contents(file_id, chunks):
                    written[kind] = (file_id, size)
                else:
                    await self._files.remove_contents(written.pop(kind)[0])
        except BaseException:
            await asyncio.shield(self._remove(file_id for file_id, _ in written.values()))
            raise
        return written

    async def finish(self, batch: RowMapping, status: str, since: str, written: dict[str, tuple[str, int]]) -> bool:
        """Records the written files and the final status at once — only if the batch is still ``since``: of two
        gateways finishing it, one wins and the other's files go (as they do when this fails)."""
        moved = None
        try:
            async with self._database.begin() as connection:
                moved = await connection.execute(
                    update(batches)
                    .where(batches.c.id == batch["id"], batches.c.status == since)
                    .values(
                        status=status,
                        output_file_id=written["output"][0] if "output" in written else None,
                        error_file_id=written["error"][0] if "error" in written else None,
                        **{f"{status}_at": int(time.time())},
                    )
                )
                if moved.rowcount == 1:
                    for kind, (file_id, size) in written.items():
                        filename = f"{batch['id']}_{kind}.jsonl"
                        await self._files.add_row(connection, file_id, batch["owner"], filename, OUTPUT_PURPOSE, size)
        finally:
            if moved is None or moved.rowcount != 1:
                await self._remove(file_id for file_id, _ in written.values())
        return moved.rowcount == 1

    async def _remove(self, file_ids: Iterable[str]) -> None:
        for file_id in list(file_ids):
            with contextlib.suppress(Exception):  # the database down: left behind, as a crash leaves it
                await self._files.remove_contents(file_id)


async def _set_status(connection: AsyncConnection, batch_id: str, status: str, **values: Any) -> None:
    await connection.execute(update(batches).where(batches.c.id == batch_id).values(status=status, **values))


def _batch(row: RowMapping) -> Batch:
    moments = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
    return Batch(
        id=row["id"],
        endpoint=row["endpoint"],
        errors=BatchErrors.model_validate(row["errors"]) if row["errors"] else None,
        input_file_id=row["input_file_id"],
        completion_window=row["completion_window"],
        status=row["status"],
        output_file_id=row["output_file_id"],
        error_file_id=row["error_file_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        request_counts=RequestCounts(
            total=row["requests_total"], completed=row["requests_completed"], failed=row["requests_failed"]
        ),
        metadata=row["metadata"],
        **{f"{moment}_at": row[f"{moment}_at"] for moment in moments},
    )
