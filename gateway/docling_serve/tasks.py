"""docling-serve's async tasks (conversions, and chunkings: ``TaskRequest.chunking``), kept in the job store so
they outlive the gateway that took them. The worker that runs them is ``gateway.docling_serve.task_worker``.

A task is a row in ``convert_tasks`` (owned by the API key that made it; another key gets 404) and blobs beside
the files: its inputs (``<id>-in-<n>``, written before the row, so a listed task always has them) and, once done,
its answer (``<id>-result``: the very body ``/v1/result`` sends). A worker in every gateway claims the oldest
pending task with a lease it renews while it works; a task whose gateway died (lease lapsed) is claimed again and
run from its inputs. Finished tasks are kept ``--task-results-hours`` and then swept, rows and blobs.

Every task ends with an answer. A run that raises something unexpected (a bug, stored options that no longer
validate, inputs that cannot be read) or meets an engine that is not serving (or is full) goes back to pending with
its error, to be claimed again after a backoff (a pending task's ``lease_expires_at`` is its "not before"); after
``--task-max-attempts`` runs (one that died with its gateway counts, one stopped gracefully does not) it fails with
"The conversion failed N times: …". An error that is the request's own or the engine's answer about it (a 4xx, the
engine failing the request) fails it at once, and so does a run past ``--request-timeout`` (counted while it holds
engine slots or decodes its inputs: the queue for slots is waited out, not timed). A failed task is answered in
docling-serve's shape (status ``failure``, the reason in ``errors``) and swept as any finished task.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.docling_serve import wire
from gateway.errors import NotFound, RateLimited
from gateway.jobstore.blobs import Blobs
from gateway.jobstore.database import database_now, finished_when_cancelled
from gateway.jobstore.tables import convert_tasks
from gateway.jobstore.wire import is_id
from gateway.ocr import Upload

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30  # another gateway on the same database takes a task over once this lapses
WAIT_POLL = 0.2  # how often ``wait`` on /v1/status/poll looks again
FINISHED = ("success", "partial_success", "failure")


@dataclass(frozen=True)
class TaskRequest:
    """What a task converts: the options, the target, and the inputs (their bytes go to blobs); ``chunking``: a
    chunk task's chunker, the documents converted then chunked."""

    options: wire.ConvertOptions
    target: wire.Target
    uploads: list[Upload]
    chunking: wire.ChunkJob | None = None


@finished_when_cancelled
class ConvertTaskStore:
    def __init__(
        self,
        database: AsyncEngine,
        blobs: Blobs,
        keep_seconds: float,
        *,
        max_queued_per_key: int = 0,
        leases: AsyncEngine | None = None,
    ) -> None:
        self._database = database
        self._leases = leases or database  # renewals' own connections
        self._blobs = blobs
        self.keep_seconds = keep_seconds
        self._max_queued = max_queued_per_key  # 0: no limit

    async def create(self, owner: str, request: TaskRequest) -> wire.TaskStatusResponse:
        await self._check_queue(owner)
        task_id = str(uuid.uuid4())
        for index, upload in enumerate(request.uploads):
            await self._blobs.write(input_blob(task_id, index), [upload.data])
        stored: dict[str, Any] = {
            "options": request.options.model_dump(mode="json"),
            "target": request.target.model_dump(mode="json"),
            "inputs": [{"filename": upload.filename, "mime": upload.mime} for upload in request.uploads],
        }
        if request.chunking is not None:
            stored["chunking"] = request.chunking.model_dump(mode="json")
        async with self._database.begin() as connection:
            await connection.execute(
                insert(convert_tasks).values(
                    id=task_id,
                    owner=owner,
                    status="pending",
                    request=stored,
                    num_docs=len(request.uploads),
                    num_succeeded=0,
                    num_failed=0,
                    attempts=0,
                    created_at=int(time.time()),
                )
            )
        return await self.status(owner, task_id)

    async def _check_queue(self, owner: str) -> None:
        """429 when the key already has ``--max-queued-tasks-per-key`` tasks waiting or running: one key's thousands
        of tasks would otherwise hold every other key's behind them (tasks run oldest first)."""
        if not self._max_queued:
            return
        unfinished = (
            select(func.count())
            .select_from(convert_tasks)
            .where(convert_tasks.c.owner == owner, convert_tasks.c.status.in_(("pending", "started")))
        )
        async with self._database.connect() as connection:
            queued = (await connection.execute(unfinished)).scalar_one()
        if queued >= self._max_queued:
            raise RateLimited(
                f"This API key has {queued} conversion tasks waiting or running, the server's limit "
                f"(--max-queued-tasks-per-key {self._max_queued}). Wait for some to finish, then submit again.",
                param="sources",
            )

    async def status(self, owner: str, task_id: str) -> wire.TaskStatusResponse:
        row = await self._row(owner, task_id)
        position = None
        if row["status"] == "pending":
            async with self._database.connect() as connection:
                ahead = select(func.count()).where(
                    convert_tasks.c.status == "pending", convert_tasks.c.seq < row["seq"]
                )
                position = int((await connection.execute(ahead)).scalar_one()) + 1
        return _status(row, position)

    async def wait(
        self, owner: str, task_id: str, seconds: float, *, since: wire.TaskStatusResponse | None = None
    ) -> wire.TaskStatusResponse:
        """The status once the task is finished (or, given ``since``, differs from it) or ``seconds`` have passed
        (docling-serve's ``wait``)."""
        deadline = time.monotonic() + seconds
        while True:
            status = await self.status(owner, task_id)
            moved = since is not None and status != since
            if status.task_status in FINISHED or moved or time.monotonic() >= deadline:
                return status
            await asyncio.sleep(min(WAIT_POLL, max(0.0, deadline - time.monotonic())))

    async def result(self, owner: str, task_id: str) -> tuple[bytes, str]:
        row = await self._row(owner, task_id)
        if row["status"] not in FINISHED:
            raise NotFound("Task result not found. Please wait for a completion status.", param="task_id")
        data = await self._blobs.read(result_blob(task_id))
        return data, str(row["result_type"])

    async def _row(self, owner: str, task_id: str) -> RowMapping:
        if is_id(task_id):
            async with self._database.connect() as connection:
                statement = select(convert_tasks).where(convert_tasks.c.id == task_id, convert_tasks.c.owner == owner)
                row = (await connection.execute(statement)).mappings().first()
            if row is not None:
                return row
        raise NotFound("Task not found.", param="task_id")

    # --- the worker's side ----------------------------------------------------

    async def claim(self, worker: str) -> RowMapping | None:
        """The oldest task waiting to run (or left by a gateway whose lease lapsed), now leased to ``worker``."""
        now = database_now()
        # A pending task's lease is when it may be tried again after a failed run; a started one's, its worker's.
        lapsed = or_(convert_tasks.c.lease_expires_at.is_(None), convert_tasks.c.lease_expires_at < now)
        free = and_(convert_tasks.c.status.in_(("pending", "started")), lapsed)
        async with self._database.begin() as connection:
            candidates = await connection.execute(
                select(convert_tasks.c.id).where(free).order_by(convert_tasks.c.seq).limit(5)
            )
            for (task_id,) in candidates.all():
                taken = await connection.execute(
                    update(convert_tasks)
                    .where(convert_tasks.c.id == task_id, free)
                    .values(
                        status="started",
                        started_at=database_now(),
                        lease_owner=worker,
                        lease_expires_at=database_now() + LEASE_SECONDS,
                        attempts=convert_tasks.c.attempts + 1,
                    )
                )
                if taken.rowcount == 1:
                    statement = select(convert_tasks).where(convert_tasks.c.id == task_id)
                    return (await connection.execute(statement)).mappings().one()
        return None

    async def renew(self, task_id: str, worker: str) -> bool:
        """Extends ``worker``'s lease on the task; False when it no longer holds it (another gateway took it over:
        this run must stop, and write nothing)."""
        async with self._leases.begin() as connection:
            renewed = await connection.execute(
                update(convert_tasks)
                .where(convert_tasks.c.id == task_id, convert_tasks.c.lease_owner == worker)
                .values(lease_expires_at=database_now() + LEASE_SECONDS)
            )
            return renewed.rowcount == 1

    async def release_leases(self, worker: str | None = None) -> None:
        """Started tasks of ``worker`` stopping (their run not counted as an attempt), or every one when None (a
        single gateway restarting: a previous life that died running a task counts as its attempt) go back to
        pending."""
        statement = (
            update(convert_tasks)
            .where(convert_tasks.c.status == "started")
            .values(status="pending", lease_owner=None, lease_expires_at=None)
        )
        if worker is not None:
            statement = statement.where(convert_tasks.c.lease_owner == worker).values(
                attempts=convert_tasks.c.attempts - 1
            )
        async with self._database.begin() as connection:
            await connection.execute(statement)

    async def inputs(self, row: RowMapping) -> TaskRequest:
        stored = row["request"]
        uploads = []
        for index, described in enumerate(stored["inputs"]):
            data = await self._blobs.read(input_blob(row["id"], index))
            uploads.append(Upload(described["filename"], described["mime"], data))
        options = wire.ConvertOptions.model_validate(stored["options"])
        chunking = wire.ChunkJob.model_validate(stored["chunking"]) if "chunking" in stored else None
        return TaskRequest(options, wire.Target.model_validate(stored["target"]), uploads, chunking)

    async def retry_later(self, row: RowMapping, worker: str, error: str, *, retry_in: int) -> None:
        """Back to pending with the run's ``error``, not to be claimed again for ``retry_in`` seconds."""
        async with self._database.begin() as connection:
            await connection.execute(
                update(convert_tasks)
                .where(convert_tasks.c.id == row["id"], convert_tasks.c.lease_owner == worker)
                .values(
                    status="pending",
                    error_message=error,
                    lease_owner=None,
                    lease_expires_at=database_now() + retry_in if retry_in > 0 else None,
                )
            )

    async def finish(
        self,
        row: RowMapping,
        worker: str,
        status: wire.ConversionStatus,
        answer: tuple[bytes, str],
        *,
        succeeded: int,
        failed: int,
        error: str | None = None,
    ) -> None:
        """The answer written, then the row finished, then its inputs removed — only while ``worker`` holds the task
        (one that lost it leaves everything to the gateway that took it over)."""
        body, media_type = answer
        if not await self.renew(row["id"], worker):
            logger.warning(
                "conversion task %s was taken over by another gateway; this run's answer is dropped", row["id"]
            )
            return
        await self._blobs.write(result_blob(row["id"]), [body])
        now = int(time.time())
        async with self._database.begin() as connection:
            finished = await connection.execute(
                update(convert_tasks)
                .where(convert_tasks.c.id == row["id"], convert_tasks.c.lease_owner == worker)
                .values(
                    status=status,
                    result_type=media_type,
                    num_succeeded=succeeded,
                    num_failed=failed,
                    error_message=error,
                    finished_at=now,
                    expires_at=now + int(self.keep_seconds),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        if finished.rowcount != 1:
            return
        for index in range(row["num_docs"]):
            await self._blobs.remove(input_blob(row["id"], index))

    async def sweep(self) -> int:
        """Deletes finished tasks past their keeping time (rows, then their blobs); how many."""
        now = int(time.time())
        async with self._database.begin() as connection:
            rows = (
                await connection.execute(
                    select(convert_tasks.c.id, convert_tasks.c.num_docs).where(convert_tasks.c.expires_at < now)
                )
            ).all()
            if rows:
                await connection.execute(delete(convert_tasks).where(convert_tasks.c.id.in_([r[0] for r in rows])))
        for task_id, inputs in rows:
            for name in [result_blob(task_id), *(input_blob(task_id, index) for index in range(inputs))]:
                await self._blobs.remove(name)
        return len(rows)


def _status(row: RowMapping, position: int | None) -> wire.TaskStatusResponse:
    meta = wire.TaskProcessingMeta(
        num_docs=row["num_docs"],
        num_processed=row["num_succeeded"] + row["num_failed"],
        num_succeeded=row["num_succeeded"],
        num_failed=row["num_failed"],
    )
    return wire.TaskStatusResponse(
        task_id=row["id"],
        task_type="chunk" if "chunking" in row["request"] else "convert",
        task_status=row["status"],
        task_position=position,
        task_meta=meta,
        error_message=row["error_message"],
    )


def input_blob(task_id: str, index: int) -> str:
    return f"{task_id}-in-{index}"


def result_blob(task_id: str) -> str:
    return f"{task_id}-result"
