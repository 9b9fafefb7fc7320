"""The batch worker: runs batch requests through the same chat service as interactive requests.

At most ``concurrency`` batch requests are in the engine at once, so interactive chat keeps the rest of the
engine's capacity. Every request's attempt and result are committed before the next step, so after a crash
(even SIGKILL) the worker resumes where it was: finished lines are never run again, and the output file is
assembled from the database exactly once per line at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import RowMapping

from gateway.batch.files import FileStore
from gateway.batch.jobs import BatchStore, new_request_id
from gateway.batch.lines import assemble, parse_input
from gateway.batch.wire import BatchError, output_line
from gateway.chat import ChatService
from gateway.errors import EngineUnavailable, GatewayError, RequestTimeout, ServerError, from_validation_error
from gateway.lifecycle import Lifecycle
from gateway.protocol import ChatCompletionRequest

logger = logging.getLogger(__name__)
LEASE_SECONDS = 30  # another gateway on the same database takes a batch over once this lapses
KEEPER_INTERVAL = 1.0  # how often a running batch's lease is renewed and its status (cancel) read
IDLE_POLL = 2.0  # new batches from other gateways are seen within this
PAGE = 256  # pending requests read from the database at a time
FINISH_STATUS = {"finalizing": "completed", "cancelling": "cancelled", "expired": "expired"}
UNFINISHED = {
    "cancelled": ("batch_cancelled", "This request was not run because the batch was cancelled."),
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
}


class BatchWorker:
    def __init__(
        self,
        batches: BatchStore,
        files: FileStore,
        chat: ChatService,
        lifecycle: Lifecycle,
        *,
        concurrency: int,
        request_timeout: float,
        single_gateway: bool,
    ) -> None:
        self._batches, self._files, self._chat, self._lifecycle = batches, files, chat, lifecycle
        self._concurrency = concurrency
        self._request_timeout = request_timeout
        self._single_gateway = single_gateway  # SQLite: no other gateway can hold a lease
        self.name = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        """A batch was created or cancelled here: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stops between steps; unfinished requests stay pending for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._batches.release_leases(self.name)

    async def _run(self) -> None:
        while self._lifecycle.state != "ready":
            await asyncio.sleep(0.5)
        if self._single_gateway:
            await self._batches.release_leases()  # held by this gateway's previous life
        while True:
            try:
                batch = await self._batches.claim(self.name, LEASE_SECONDS)
                if batch is not None:
                    await self._process(batch)
                    continue
            except Exception:
                logger.exception("the batch worker failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL):
                    await self._wake.wait()

    async def _process(self, batch: RowMapping) -> None:
        status = batch["status"]
        if status == "validating":
            status = await self._validate(batch)
        if status == "in_progress":
            status = await self._serve(batch)
        if status in FINISH_STATUS:
            await self._finish(batch, FINISH_STATUS[status])

    async def _validate(self, batch: RowMapping) -> str:
        path = self._files.path(batch["input_file_id"])
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            message = "The input file was deleted before the batch started."
            await self._batches.fail(batch["id"], [BatchError(code="file_not_found", message=message)])
            return "failed"
        parsed = await asyncio.to_thread(parse_input, data, batch["id"], batch["endpoint"])
        if parsed.errors:
            await self._batches.fail(batch["id"], parsed.errors)
            return "failed"
        return "in_progress" if await self._batches.start(batch["id"], parsed.rows) else "cancelling"

    async def _serve(self, batch: RowMapping) -> str:
        """Runs the pending requests; returns the status to finish with (a cancel or expiry stops early)."""
        halt: list[str] = []
        running: set[asyncio.Task[None]] = set()
        keeper = asyncio.create_task(self._keep(batch, halt, running))
        slots = asyncio.Semaphore(self._concurrency)
        after = 0
        try:
            async with asyncio.TaskGroup() as group:
                while not halt and (rows := await self._batches.pending(batch["id"], after, PAGE)):
                    for row in rows:
                        await slots.acquire()
                        if halt:
                            slots.release()
                            break
                        task = group.create_task(self._answer(batch["id"], row, slots))
                        running.add(task)
                        task.add_done_callback(running.discard)
                        after = row["line"]
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        return halt[0] if halt else "finalizing"

    async def _keep(self, batch: RowMapping, halt: list[str], running: set[asyncio.Task[None]]) -> None:
        """Renews the lease; on a cancel or the end of the completion window, stops the batch's requests."""
        while True:
            await asyncio.sleep(KEEPER_INTERVAL)
            status = await self._batches.renew(batch["id"], self.name, LEASE_SECONDS)
            if status == "cancelling" or time.time() > batch["expires_at"]:
                halt.append("cancelling" if status == "cancelling" else "expired")
                for task in list(running):
                    task.cancel()  # the engine aborts it; the request stays pending
                return

    async def _answer(self, batch_id: str, row: RowMapping, slots: asyncio.Semaphore) -> None:
        try:
            await self._batches.count_attempt(batch_id, row["line"])
            ok, result = await self._call(row)
            await self._batches.record(batch_id, row["line"], ok, result)
        finally:
            slots.release()

    async def _call(self, row: RowMapping) -> tuple[bool, dict[str, Any]]:
        """(answered with 200, output line); an engine that is down leaves the request pending instead."""
        request_id = new_request_id()
        try:
            request = ChatCompletionRequest.model_validate(row["body"]).model_copy(update={"stream": False})
            async with asyncio.timeout(self._request_timeout):
                completion = await self._chat.complete(request)
            return True, output_line(request_id, row["custom_id"], 200, completion.model_dump(), completion.id)
        except ValidationError as invalid:
            error: GatewayError = from_validation_error(invalid)
        except EngineUnavailable:
            raise
        except TimeoutError:
            error = RequestTimeout("The request took longer than the server's request timeout.")
        except GatewayError as failed:
            error = failed
        except Exception:
            logger.exception("batch request %s failed", row["custom_id"])
            error = ServerError("The server had an error while processing your request.")
        return False, output_line(
            request_id, row["custom_id"], error.status_code, error.body().model_dump(), request_id
        )

    async def _finish(self, batch: RowMapping, status: str) -> None:
        if status == "completed":
            await self._batches.set_status(batch["id"], "finalizing", finalizing_at=int(time.time()))
        results = await self._batches.results(batch["id"])
        outputs = await asyncio.to_thread(assemble, results, UNFINISHED.get(status))
        await self._batches.finish(batch, status, outputs)
        logger.info("batch %s %s (%d requests)", batch["id"], status, len(results))
