"""The batch worker: runs batch requests through the same chat service as interactive requests.

At most ``concurrency`` batch requests are in the engine at once, so interactive chat keeps the rest of the
engine's capacity. Whenever slots are free the worker claims that many requests (``claims.py``: small units,
shared fairly between API keys and batches, each under a lease it renews while the request runs), so every
gateway on one database works on the same batches. Between claims it takes the batches' lifecycle steps that are
due — validate an input, assemble an output — each once, whichever gateway gets there first.

Every request's attempt and result are committed before the next step, so after a crash (even SIGKILL) the work
resumes where it was: finished lines are never run again, the dead gateway's units are taken over once their
leases lapse, and the output file is assembled from the database exactly once per line at the end.

Nothing is tried for ever: a request started ``max_attempts`` times without an answer (its engine or gateway died
each time, or the engine kept refusing it while serving others) ends with an error line "failed N times", and a
lifecycle step that keeps failing (an input that cannot be stored, an output that cannot be written) is tried again
after a backoff and then fails its batch — either way the queue moves on. Claiming units and taking steps are
tried apart, so a failing step never stops the units.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import RowMapping

from gateway.chat import ChatService
from gateway.errors import EngineUnavailable, GatewayError, RequestTimeout, ServerError, from_validation_error
from gateway.jobstore.claims import Key, Unit
from gateway.jobstore.database import unreachable
from gateway.jobstore.files import FileStore
from gateway.jobstore.jobs import BatchStore
from gateway.jobstore.lines import parse_input
from gateway.jobstore.wire import BatchError, new_request_id, output_line
from gateway.lifecycle import Lifecycle
from gateway.metrics import BatchMetrics
from gateway.protocol import ChatCompletionRequest

logger = logging.getLogger(__name__)
LEASE_SECONDS = 30  # another gateway takes a unit (or a lifecycle step) over once its lease lapses this long
KEEPER_INTERVAL = 1.0  # how often running units' leases are renewed and their batches' status (cancel) read
IDLE_POLL = 2.0  # new work from other gateways is seen within this
QUEUE_DEPTH_INTERVAL = 5.0  # how often the queue-depth gauge is read from the database
BACKOFF_SECONDS = 2.0  # before a failed request or step is tried again; doubled at each failure
RECORD_PATIENCE = 120.0  # seconds an answer waits for an unreachable database before the request is left to rerun
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
        max_attempts: int = 3,
        metrics: BatchMetrics | None = None,
    ) -> None:
        self._batches, self._units, self._files = batches, batches.units, files
        self._chat, self._lifecycle = chat, lifecycle
        self._concurrency = concurrency
        self._request_timeout = request_timeout
        self._single_gateway = single_gateway  # SQLite: no other gateway can hold a lease
        self._max_attempts = max(1, max_attempts)
        self._metrics = metrics or BatchMetrics()
        self.name = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._paused_until = 0.0  # the engine was unavailable: claim nothing before this (monotonic)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        """A batch was created or cancelled here: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, *, release: bool = True) -> None:
        """Stops between steps; unfinished requests stay pending. ``release=False`` leaves the leases to lapse, as a
        gateway that died would (tests use it to show the takeover)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            if release:
                with contextlib.suppress(Exception):
                    await self._batches.release_leases(self.name)

    async def _run(self) -> None:
        while self._lifecycle.state != "ready":
            await asyncio.sleep(0.5)
        if self._single_gateway:
            await self._batches.release_leases()  # held by this gateway's previous life
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keep())
            while True:
                self._wake.clear()  # before looking: a unit finishing meanwhile wakes the wait below
                busy = await self._tried(self._tend())
                busy = await self._tried(self._fill(group)) or busy
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(IDLE_POLL):
                            await self._wake.wait()

    @staticmethod
    async def _tried(work: Awaitable[bool]) -> bool:
        """``work``'s answer; False when it failed (the database unreachable: the next pass tries again)."""
        try:
            return await work
        except Exception:
            logger.exception("the batch worker failed; retrying")
            return False

    # --- units: claimed, run, kept ----------------------------------------------

    async def _fill(self, group: asyncio.TaskGroup) -> bool:
        """Claims a unit for each free slot and starts them; True when it started any."""
        free = self._concurrency - len(self._running)
        if free <= 0 or time.monotonic() < self._paused_until:
            return False
        claimed = await self._units.claim(self.name, free, LEASE_SECONDS)
        for unit in claimed.units:
            self._running[unit.key] = group.create_task(self._answer(unit))
        self._metrics.units_claimed.inc(len(claimed.units))
        self._metrics.lease_takeovers.inc(claimed.takeovers)
        return bool(claimed.units)

    async def _answer(self, unit: Unit) -> None:
        try:
            if unit.attempts >= self._max_attempts:
                await self._units.record(unit, False, self._gave_up(unit))
                return
            await self._units.count_attempt(unit)
            ok, result = await self._call(unit)
            await self._record(unit, ok, result)
        except EngineUnavailable:
            self._paused_until = time.monotonic() + IDLE_POLL
            if not self._lifecycle.serving():
                await self._units.count_attempt(unit, -1)  # the engine is down for everyone: not this request's fault
            await self._give_back(unit)  # pending again, after a backoff
        except Exception:
            logger.exception("batch request %s of %s failed; it stays pending", unit.line, unit.batch_id)
            await self._give_back(unit)
        finally:
            self._running.pop(unit.key, None)
            self._wake.set()

    async def _record(self, unit: Unit, ok: bool, result: dict[str, Any]) -> None:
        """Records the answer, waiting out a database that cannot be reached (restarting) for a while rather than
        running the request again. Should another gateway take the unit over meanwhile and answer first, its line
        is the one kept: only a pending request takes an answer."""
        delay, gives_up = 0.5, time.monotonic() + RECORD_PATIENCE
        while True:
            try:
                return await self._units.record(unit, ok, result)
            except Exception as error:
                if not unreachable(error) or time.monotonic() > gives_up:
                    raise
                logger.warning("batch request %s of %s: the database is unreachable; recording again", *unit.key[::-1])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _give_back(self, unit: Unit) -> None:
        retry_in = round(BACKOFF_SECONDS * 2**unit.attempts)
        with contextlib.suppress(Exception):  # else its lease lapses, and the unit is taken over then
            await self._units.release(self.name, [unit.key], retry_in=retry_in)

    def _gave_up(self, unit: Unit) -> dict[str, Any]:
        """The error line of a request started ``max_attempts`` times without an answer."""
        error = ServerError(
            f"The request failed {unit.attempts} times without an answer (its engine or gateway stopped each time); "
            "it is not tried again."
        )
        request_id = new_request_id()
        return output_line(request_id, unit.custom_id, error.status_code, error.body().model_dump(), request_id)

    async def _keep(self) -> None:
        """Renews the running units' leases; stops those whose batch was cancelled or ran past its window."""
        depth_read = 0.0
        while True:
            await asyncio.sleep(KEEPER_INTERVAL)
            try:
                if self._running:
                    await self._keep_units()
                if time.monotonic() - depth_read >= QUEUE_DEPTH_INTERVAL:
                    depth_read = time.monotonic()
                    self._metrics.queue_depth.set(await self._units.queue_depth())
            except Exception:
                logger.exception("renewing the batch leases failed; retrying")

    async def _keep_units(self) -> None:
        keys = list(self._running)
        kept = await self._units.renew(self.name, keys, LEASE_SECONDS)
        for key in set(keys) - kept:  # taken over (this gateway stalled past its lease): the new holder answers it
            if (task := self._running.get(key)) is not None:
                task.cancel()
        keys = [key for key in keys if key in kept]
        statuses = await self._units.statuses({batch_id for batch_id, _ in keys})
        stopped = {batch_id for batch_id, (status, expired) in statuses.items() if status != "in_progress" or expired}
        halted = [key for key in keys if key[0] in stopped]
        for key in halted:
            if (task := self._running.get(key)) is not None:
                task.cancel()  # the engine aborts it; the request stays pending, reported at the finish
        if halted:
            await self._units.release(self.name, halted)
            self._wake.set()

    # --- a batch's lifecycle steps, each taken once -------------------------------

    async def _tend(self) -> bool:
        """Takes one due lifecycle step (validate, or finish as completed, cancelled or expired); True if any."""
        batch = await self._batches.claim(self.name, LEASE_SECONDS)
        if batch is None:
            return False
        try:
            async with self._holding(batch["id"]):
                await self._step(batch)
        except Exception as error:
            logger.exception("batch %s: its %s step failed", batch["id"], batch["status"])
            reason = f"{type(error).__name__}: {error}"[:300]
            attempts, backoff = self._max_attempts, BACKOFF_SECONDS
            if await self._batches.step_failed(batch["id"], self.name, reason, attempts=attempts, backoff=backoff):
                logger.warning("batch %s failed: its %s step failed %d times", batch["id"], batch["status"], attempts)
            return True
        await self._batches.release(batch["id"], self.name)
        return True

    @contextlib.asynccontextmanager
    async def _holding(self, batch_id: str) -> AsyncIterator[None]:
        """Keeps the batch's lease while a step runs (a large input takes a while to parse or assemble)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(KEEPER_INTERVAL)
                try:
                    await self._batches.renew(batch_id, self.name, LEASE_SECONDS)
                except Exception:  # the database unreachable a moment: the next renewal tries again
                    logger.warning("batch %s: renewing its lease failed; retrying", batch_id, exc_info=True)

        keeper = asyncio.create_task(renew())
        try:
            yield
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _step(self, batch: RowMapping) -> None:
        status = batch["status"]
        if status == "validating":
            await self._validate(batch)
        elif status == "cancelling":
            await self._finish(batch, "cancelled", since="cancelling")
        elif status == "finalizing" or await self._batches.begin_finalizing(batch["id"]):
            await self._finish(batch, "completed", since="finalizing")
        elif status == "in_progress":  # claimed with requests pending: past its window by the database's clock
            await self._finish(batch, "expired", since="in_progress")

    async def _validate(self, batch: RowMapping) -> None:
        try:
            data = await self._files.read(batch["input_file_id"])
        except FileNotFoundError:
            message = "The input file was deleted before the batch started."
            await self._batches.fail(batch["id"], [BatchError(code="file_not_found", message=message)])
            return
        parsed = await asyncio.to_thread(parse_input, data, batch["id"], batch["endpoint"])
        if parsed.errors:
            await self._batches.fail(batch["id"], parsed.errors)
            return
        await self._batches.start(batch["id"], parsed.rows)  # False: cancelled meanwhile, finished as such later
        self._wake.set()  # its requests can be claimed now

    async def _call(self, unit: Unit) -> tuple[bool, dict[str, Any]]:
        """(answered with 200, output line); an engine that is down leaves the request pending instead."""
        request_id = new_request_id()
        try:
            request = ChatCompletionRequest.model_validate(unit.body).model_copy(update={"stream": False})
            async with asyncio.timeout(self._request_timeout):
                completion = await self._chat.complete(request)
            return True, output_line(request_id, unit.custom_id, 200, completion.model_dump(), completion.id)
        except ValidationError as invalid:
            error: GatewayError = from_validation_error(invalid)
        except EngineUnavailable:
            raise
        except TimeoutError:
            error = RequestTimeout("The request took longer than the server's request timeout.")
        except GatewayError as failed:
            error = failed
        except Exception:
            logger.exception("batch request %s failed", unit.custom_id)
            error = ServerError("The server had an error while processing your request.")
        return False, output_line(request_id, unit.custom_id, error.status_code, error.body().model_dump(), request_id)

    async def _finish(self, batch: RowMapping, status: str, *, since: str) -> None:
        unfinished = UNFINISHED.get(status)
        outputs = {kind: self._batches.output(batch["id"], kind, unfinished) for kind in ("output", "error")}
        written = await self._batches.write_outputs(outputs)
        if await self._batches.finish(batch, status, since, written):
            logger.info("batch %s %s", batch["id"], status)
