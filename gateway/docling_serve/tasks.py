"""docling-serve's async conversions, kept in the job store so they outlive the gateway that took them.

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
import contextlib
import logging
import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.errors import EngineFault
from gateway.admission import AdmissionControl, wait_for_slots
from gateway.deadline import within_deadline
from gateway.docling_serve import wire
from gateway.docling_serve.service import MODULE, DoclingConverter, page_count, respond
from gateway.errors import EngineUnavailable, GatewayError, NotFound, RateLimited, from_engine_error
from gateway.jobstore.blobs import Blobs
from gateway.jobstore.database import database_now, finished_when_cancelled
from gateway.jobstore.tables import convert_tasks
from gateway.jobstore.wire import is_id
from gateway.lifecycle import Lifecycle
from gateway.ocr import Upload

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30  # another gateway on the same database takes a task over once this lapses
KEEPER_INTERVAL = 2.0
IDLE_POLL = 1.0  # how often an idle worker looks for tasks other gateways accepted
SWEEP_INTERVAL = 60.0
WAIT_POLL = 0.2  # how often ``wait`` on /v1/status/poll looks again
BACKOFF_SECONDS = 2.0  # before a failed run is tried again; doubled at each failure, up to MAX_BACKOFF_SECONDS
MAX_BACKOFF_SECONDS = 300.0
MAX_REASON = 500  # characters of an unexpected error kept as the task's error message
TRANSIENT = (EngineUnavailable, RateLimited)  # the engine not serving now, or at capacity: worth another run
FINISHED = ("success", "partial_success", "failure")


@dataclass(frozen=True)
class TaskRequest:
    """What a task converts: the options, the target, and the inputs (their bytes go to blobs)."""

    options: wire.ConvertOptions
    target: wire.Target
    uploads: list[Upload]


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
            await self._blobs.write(_input(task_id, index), [upload.data])
        stored = {
            "options": request.options.model_dump(mode="json"),
            "target": request.target.model_dump(mode="json"),
            "inputs": [{"filename": upload.filename, "mime": upload.mime} for upload in request.uploads],
        }
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
        data = await self._blobs.read(_result(task_id))
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
            data = await self._blobs.read(_input(row["id"], index))
            uploads.append(Upload(described["filename"], described["mime"], data))
        options = wire.ConvertOptions.model_validate(stored["options"])
        return TaskRequest(options, wire.Target.model_validate(stored["target"]), uploads)

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
        await self._blobs.write(_result(row["id"]), [body])
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
            await self._blobs.remove(_input(row["id"], index))

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
            for name in [_result(task_id), *(_input(task_id, index) for index in range(inputs))]:
                await self._blobs.remove(name)
        return len(rows)


class ConvertTaskWorker:
    """Runs tasks one after another, each taking engine slots from the same admission as requests."""

    def __init__(
        self,
        store: ConvertTaskStore,
        converter: DoclingConverter,
        admission: AdmissionControl,
        lifecycle: Lifecycle,
        *,
        request_timeout: float,
        max_attempts: int,
        single_gateway: bool,
    ) -> None:
        self._store, self._converter, self._admission, self._lifecycle = store, converter, admission, lifecycle
        self._timeout = request_timeout
        self._max_attempts = max(1, max_attempts)
        self._single_gateway = single_gateway  # SQLite: no other gateway can hold a lease
        self.name = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stops between steps; a task in the middle goes back to pending for the next gateway or start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._store.release_leases(self.name)

    async def _run(self) -> None:
        while self._lifecycle.state != "ready":
            await asyncio.sleep(0.5)
        if self._single_gateway:
            await self._store.release_leases()  # held by this gateway's previous life
        swept = 0.0
        while True:
            try:
                if time.monotonic() - swept > SWEEP_INTERVAL:
                    swept = time.monotonic()
                    await self._store.sweep()
                # While the engine is down for everyone (a pool of replicas, all out) runs are not spent on it.
                row = await self._store.claim(self.name) if self._lifecycle.serving() else None
                if row is not None:
                    await self._process(row)
                    continue
            except Exception:
                logger.exception("the conversion task worker failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL):
                    await self._wake.wait()

    async def _process(self, row: RowMapping) -> None:
        run = asyncio.create_task(self._attempt(row))
        keeper = asyncio.create_task(self._keep(row["id"], run))
        try:
            await asyncio.wait([run])
            if not run.cancelled():  # cancelled: the keeper found the task taken over
                run.result()
        finally:
            for task in (run, keeper):
                task.cancel()
            await asyncio.gather(run, keeper, return_exceptions=True)

    async def _attempt(self, row: RowMapping) -> None:
        """One run of a claimed task: finished with its answer, failed, or put back to be tried again."""
        runs = row["attempts"]  # counted by claim(), this run included
        if runs > self._max_attempts:  # the runs before ended with their gateway (or the bound was lowered)
            reason = row["error_message"] or "its gateway stopped while running it"
            await self._fail(row, _gave_up(runs - 1, reason))
            return
        try:
            request = await self._store.inputs(row)
            answer, status, succeeded, failed = await self._convert(request)
        except Exception as error:
            await self._failed_run(row, error)
            return
        await self._store.finish(row, self.name, status, answer, succeeded=succeeded, failed=failed)

    async def _failed_run(self, row: RowMapping, error: Exception) -> None:
        """A request's own error (or the engine's about it) fails the task; anything else is tried again."""
        failure = from_engine_error(error) if isinstance(error, EngineFault) else error
        if isinstance(failure, GatewayError) and not isinstance(failure, TRANSIENT):
            await self._fail(row, failure.message)
            return
        runs = row["attempts"]
        if isinstance(failure, GatewayError):
            reason = failure.message
            logger.warning("conversion task %s, run %d of %d: %s", row["id"], runs, self._max_attempts, reason)
        else:
            reason = f"{type(error).__name__}: {error}"[:MAX_REASON]
            logger.exception("conversion task %s, run %d of %d, failed", row["id"], runs, self._max_attempts)
        if runs >= self._max_attempts:
            await self._fail(row, _gave_up(runs, reason))
        else:
            retry_in = round(min(BACKOFF_SECONDS * 2 ** (runs - 1), MAX_BACKOFF_SECONDS))
            await self._store.retry_later(row, self.name, reason, retry_in=retry_in)

    async def _fail(self, row: RowMapping, message: str) -> None:
        answer = _failed(row, message)
        await self._store.finish(row, self.name, "failure", answer, succeeded=0, failed=row["num_docs"], error=message)

    async def _convert(self, request: TaskRequest) -> tuple[tuple[bytes, str], wire.ConversionStatus, int, int]:
        """The task's answer within ``--request-timeout`` of work (``RequestTimeout`` past it); the wait for engine
        slots, which a task sits out where a request would be refused, is not counted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        sources = await within_deadline(deadline, self._converter.load(request.uploads, request.options))
        ticket, deadline = await wait_for_slots(self._admission, page_count(sources), deadline)
        try:
            convert = self._converter.convert(sources, request.options, None, at_once=ticket.slots)
            converted = await within_deadline(deadline, convert)
        finally:
            ticket.release()
        failed = converted.failed
        succeeded = len(converted.documents) - failed
        # A run that converted some documents is a "success", as docling-serve's tasks are (each document's own
        # status is in the answer): docling's client waits for "success" or "failure" and for nothing else.
        status: wire.ConversionStatus = "failure" if failed and not succeeded else "success"
        return respond(converted, request.options, request.target), status, succeeded, failed

    async def _keep(self, task_id: str, run: asyncio.Task[None]) -> None:
        """Renews the lease while ``run`` works; stops it once another gateway holds the task (this one stalled past
        its lease), so the two never both write an answer."""
        while True:
            await asyncio.sleep(KEEPER_INTERVAL)
            try:
                held = await self._store.renew(task_id, self.name)
            except Exception:  # the database unreachable: the next renewal tries again
                continue
            if not held:
                logger.warning("conversion task %s was taken over by another gateway; stopping this run", task_id)
                run.cancel()
                return


def _gave_up(runs: int, reason: str) -> str:
    return f"The conversion failed {runs} times: {reason}"


def _failed(row: RowMapping, message: str) -> tuple[bytes, str]:
    """A failed task's answer: docling-serve's response with status ``failure`` and the reason in ``errors``."""
    inputs = row["request"]["inputs"]
    name = next((described["filename"] for described in inputs if described["filename"]), None) or "document"
    response = wire.ConvertDocumentResponse(
        document=wire.ExportDocumentResponse(filename=name),
        status="failure",
        errors=[wire.ErrorItem(component_type="pipeline", module_name=MODULE, error_message=message)],
        processing_time=0.0,
    )
    return response.model_dump_json().encode(), "application/json"


def _status(row: RowMapping, position: int | None) -> wire.TaskStatusResponse:
    meta = wire.TaskProcessingMeta(
        num_docs=row["num_docs"],
        num_processed=row["num_succeeded"] + row["num_failed"],
        num_succeeded=row["num_succeeded"],
        num_failed=row["num_failed"],
    )
    return wire.TaskStatusResponse(
        task_id=row["id"],
        task_status=row["status"],
        task_position=position,
        task_meta=meta,
        error_message=row["error_message"],
    )


def _input(task_id: str, index: int) -> str:
    return f"{task_id}-in-{index}"


def _result(task_id: str) -> str:
    return f"{task_id}-result"
