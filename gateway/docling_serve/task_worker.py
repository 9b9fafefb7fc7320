"""The worker that runs docling-serve's async tasks (``gateway.docling_serve.tasks``): one after another, each
taking engine slots from the same admission as requests, a conversion answered as ``/v1/convert`` answers and a
chunking as ``/v1/chunk`` does (``gateway.docling_serve.chunking``). How a run that fails is retried or ends is
told in ``tasks``' docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from sqlalchemy import RowMapping

from adapters.errors import EngineFault
from gateway.admission import AdmissionControl, wait_for_slots
from gateway.deadline import within_deadline
from gateway.docling_serve import wire
from gateway.docling_serve.chunking import chunk_sources, failed_chunking, respond_chunks
from gateway.docling_serve.service import MODULE, DoclingConverter, Source, page_count, respond
from gateway.docling_serve.tasks import ConvertTaskStore, TaskRequest
from gateway.errors import EngineUnavailable, GatewayError, RateLimited, from_engine_error
from gateway.lifecycle import Lifecycle

logger = logging.getLogger(__name__)

KEEPER_INTERVAL = 2.0
IDLE_POLL = 1.0  # how often an idle worker looks for tasks other gateways accepted
SWEEP_INTERVAL = 60.0
BACKOFF_SECONDS = 2.0  # before a failed run is tried again; doubled at each failure, up to MAX_BACKOFF_SECONDS
MAX_BACKOFF_SECONDS = 300.0
MAX_REASON = 500  # characters of an unexpected error kept as the task's error message
TRANSIENT = (EngineUnavailable, RateLimited)  # the engine not serving now, or at capacity: worth another run


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
            answer, total, failed = await within_deadline(deadline, self._answer(request, sources, ticket.slots))
        finally:
            ticket.release()
        succeeded = total - failed
        # A run that converted some documents is a "success", as docling-serve's tasks are (each document's own
        # status is in the answer): docling's client waits for "success" or "failure" and for nothing else.
        status: wire.ConversionStatus = "failure" if failed and not succeeded else "success"
        return answer, status, succeeded, failed

    async def _answer(
        self, request: TaskRequest, sources: list[Source], at_once: int
    ) -> tuple[tuple[bytes, str], int, int]:
        """The task's body and content type, how many documents it had and how many of them failed."""
        if request.chunking is None:
            converted = await self._converter.convert(sources, request.options, None, at_once=at_once)
            return respond(converted, request.options, request.target), len(converted.documents), converted.failed
        chunk = chunk_sources(self._converter, sources, request.options, request.chunking, None, at_once=at_once)
        chunked = await chunk
        return respond_chunks(chunked, request.target), chunked.total, chunked.failed

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
    """A failed task's answer: docling-serve's response with status ``failure`` and the reason in ``errors`` (for a
    chunk task, its chunk response with no chunks)."""
    inputs = row["request"]["inputs"]
    name = next((described["filename"] for described in inputs if described["filename"]), None) or "document"
    if "chunking" in row["request"]:
        return failed_chunking(name, message)
    response = wire.ConvertDocumentResponse(
        document=wire.ExportDocumentResponse(filename=name),
        status="failure",
        errors=[wire.ErrorItem(component_type="pipeline", module_name=MODULE, error_message=message)],
        processing_time=0.0,
    )
    return response.model_dump_json().encode(), "application/json"
