"""PaddleOCR's jobs API behind ``/api/v2/ocr/jobs`` (``jobs_wire.py``): a file taken, read in the background with the
PaddleX pipelines (``service.py``), its answer written as a JSONL file to the file store and handed out as a signed
URL (``gateway/jobstore/signed_urls.py``), which PaddleOCR's client downloads without its key.

The jobs themselves live in this process, in a table bounded in size (``MAX_JOBS``, and per key
``--max-queued-tasks-per-key`` waiting or running, as docling-serve's tasks) and age (a finished job is kept
``keep_seconds``, then dropped), not in the job store's ``convert_tasks``: those rows are
docling-serve's tasks (their options, targets and answers), and PaddleOCR's client submits, polls and downloads
within minutes. So a job does not outlive the gateway that took it, nor is it seen by another gateway on the same
database; the client then gets a 404 for it and submits again. Result files are swept once ``keep_seconds`` old
(by their ``created_at``), at start-up and every ``SWEEP_INTERVAL``: those of a gateway that stopped too.

A job's upload is kept only until it is decoded, and at most ``LOADING`` jobs at once fetch and decode their file
and wait, holding its pages, for engine slots; the others wait their turn holding just the bytes they were sent.

A job ends ``done`` or ``failed``, never stays ``running``: a file that cannot be fetched or read, or an engine
error, fails it with the reason in ``errorMsg``; the run is bounded by ``--request-timeout`` (the wait for engine
slots and for a turn to load, sat out rather than refused, are not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel

from adapters.errors import EngineFault
from gateway.admission import AdmissionControl, Ticket, wait_for_slots
from gateway.deadline import within_deadline
from gateway.errors import GatewayError, NotFound, RateLimited, from_engine_error
from gateway.jobstore.files import FileStore
from gateway.jobstore.signed_urls import UrlSigner
from gateway.ocr import Document
from gateway.paddlex import jobs_wire as wire
from gateway.paddlex.service import PaddleX

logger = logging.getLogger(__name__)

MAX_JOBS = 1000  # jobs kept at once, finished or not; a submit past it while none has finished is a 429
LOADING = 2  # jobs decoding their file or holding it decoded while they wait for engine slots
SWEEP_INTERVAL = 60.0
MAX_REASON = 500  # characters of an unexpected error kept as the job's errorMsg
RESULT_PURPOSE = "paddleocr_result"  # the result files' purpose in /v1/files


@dataclass
class Job:
    """One job's state, as its status answer shows it."""

    id: str
    owner: str
    model: str
    base_url: str  # the server's root as the client reached it: the result URL's host
    state: wire.JobState = "pending"
    total_pages: int = 0
    extracted_pages: int = 0
    started: float | None = None
    ended: float | None = None
    result_file: str | None = None
    error: str | None = None
    source: Source | None = field(default=None, repr=False)  # until the file is decoded
    run: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Source:
    """A job's file: its bytes (an upload) or where to fetch them."""

    data: bytes | None = None
    url: str | None = None


class PaddleOcrJobs:
    """Takes jobs, runs each in the background, answers their status."""

    def __init__(
        self,
        paddlex: PaddleX,
        admission: AdmissionControl,
        signer: UrlSigner,
        *,
        request_timeout: float,
        keep_seconds: float,
        max_jobs: int = MAX_JOBS,
        max_queued_per_key: int = 0,
    ) -> None:
        self._paddlex, self._admission, self._signer = paddlex, admission, signer
        self._timeout = request_timeout
        self._keep_seconds = keep_seconds
        self._max_jobs = max_jobs
        self._max_queued = max_queued_per_key  # 0: no limit
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._loading = asyncio.Semaphore(LOADING)
        self._sweeper: asyncio.Task[None] | None = None

    def start(self, files: FileStore) -> None:
        """Sweeps result files past their keeping time, now and every ``SWEEP_INTERVAL``."""
        self._sweeper = asyncio.create_task(self._sweep(files), name="paddleocr job results sweeper")

    async def submit(self, owner: str, model: str, source: Source, files: FileStore, base_url: str) -> str:
        """A new job's id; the job runs in the background."""
        self._check_queue(owner)
        await self._make_room(files)
        job = Job(id=f"job-{secrets.token_hex(12)}", owner=owner, model=model, base_url=base_url, source=source)
        self._jobs[job.id] = job
        job.run = asyncio.create_task(self._run(job, files), name=f"paddleocr job {job.id}")
        return job.id

    def status(self, owner: str, job_id: str) -> wire.JobStatus:
        """The job's state; another key's job, or one dropped, is not found."""
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"Job {job_id} not found.", param="jobId")
        progress = None
        if job.started is not None:
            progress = wire.ExtractProgress(
                totalPages=job.total_pages,
                extractedPages=job.extracted_pages,
                startTime=_timestamp(job.started),
                endTime=_timestamp(job.ended),
            )
        result = None
        if job.result_file is not None:
            url = self._signer.url(job.base_url, job.result_file, self._keep_seconds / 3600)
            result = wire.ResultUrl(jsonUrl=url)
        return wire.JobStatus(
            jobId=job.id, state=job.state, extractProgress=progress, resultUrl=result, errorMsg=job.error
        )

    async def stop(self) -> None:
        """Stops the sweeper and the jobs still running (they are lost with this process, as the module says)."""
        runs = [job.run for job in self._jobs.values() if job.run is not None and not job.run.done()]
        runs += [self._sweeper] if self._sweeper is not None else []
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    def _check_queue(self, owner: str) -> None:
        """429 when the key already has ``--max-queued-tasks-per-key`` jobs waiting or running: one key's jobs would
        otherwise fill the table, and hold every other key's behind them."""
        queued = sum(1 for job in self._jobs.values() if job.owner == owner and job.ended is None)
        if self._max_queued and queued >= self._max_queued:
            raise RateLimited(
                f"This API key has {queued} jobs waiting or running, the server's limit (--max-queued-tasks-per-key "
                f"{self._max_queued}). Wait for some to finish, then submit again."
            )

    async def _make_room(self, files: FileStore) -> None:
        """Drops finished jobs past their keeping time, then the oldest finished ones while the table is full."""
        now = time.time()
        finished = [job for job in self._jobs.values() if job.ended is not None]
        stale = [job for job in finished if now - (job.ended or now) > self._keep_seconds]
        excess = len(self._jobs) - len(stale) - self._max_jobs + 1
        dropped = stale + [job for job in finished if job not in stale][: max(0, excess)]
        for job in dropped:
            del self._jobs[job.id]
            if job.result_file is not None:
                with contextlib.suppress(GatewayError):  # deleted by its owner meanwhile
                    await files.delete(job.owner, job.result_file)
        if len(self._jobs) >= self._max_jobs:
            raise RateLimited(f"{len(self._jobs)} jobs are waiting or running; submit again once some finish.")

    async def _sweep(self, files: FileStore) -> None:
        while True:
            try:
                await files.sweep(RESULT_PURPOSE, int(time.time() - self._keep_seconds))
            except Exception:
                logger.exception("sweeping PaddleOCR job results failed; trying again in %.0f s", SWEEP_INTERVAL)
            await asyncio.sleep(SWEEP_INTERVAL)

    async def _run(self, job: Job, files: FileStore) -> None:
        job.state, job.started = "running", time.time()
        try:
            lines = await self._read(job)
            job.result_file = (await files.create(job.owner, f"{job.id}.jsonl", RESULT_PURPOSE, [lines])).id
            job.extracted_pages, job.state = job.total_pages, "done"
        except (GatewayError, EngineFault) as caught:
            error = from_engine_error(caught) if isinstance(caught, EngineFault) else caught
            job.state, job.error = "failed", error.message
        except Exception as unexpected:
            logger.exception("PaddleOCR job %s failed", job.id)
            job.state, job.error = "failed", f"{type(unexpected).__name__}: {unexpected}"[:MAX_REASON]
        finally:
            job.ended = time.time()

    async def _read(self, job: Job) -> bytes:
        """The job's JSONL answer, within ``--request-timeout`` of work."""
        document, ticket, deadline = await self._admitted(job)
        try:
            return await within_deadline(deadline, self._pages(job.model, document, ticket))
        finally:
            ticket.release()

    async def _admitted(self, job: Job) -> tuple[Document, Ticket, float]:
        """The job's file decoded, and engine slots for its pages as a request would get them (at most the server's
        capacity: pages then take turns), by ``LOADING`` jobs at a time; with the work's deadline."""
        async with self._loading:
            deadline = asyncio.get_running_loop().time() + self._timeout
            document = await within_deadline(deadline, self._load(job))
            job.total_pages = len(document.pages)
            count = max(1, min(len(document.pages), self._admission.capacity))
            ticket, deadline = await wait_for_slots(self._admission, count, deadline)
        return document, ticket, deadline

    async def _load(self, job: Job) -> Document:
        """The job's file decoded; the job lets its bytes go."""
        source, job.source = job.source, None
        assert source is not None
        data = source.data if source.url is None else await self._paddlex.fetch(source.url, param="fileUrl")
        assert data is not None
        return await self._paddlex.read(data)

    async def _pages(self, model: str, document: Document, ticket: Ticket) -> bytes:
        """One JSONL line per page, ``{"result": {"ocrResults" or "layoutParsingResults": [page], "dataInfo"}}``."""
        if model in wire.OCR_MODELS:
            read = (await self._paddlex.ocr(document, None, at_once=ticket.slots)).result
            return _jsonl("ocrResults", read.ocrResults, read.dataInfo)
        parsed = (await self._paddlex.layout_parsing(document, None, at_once=ticket.slots)).result
        return _jsonl("layoutParsingResults", parsed.layoutParsingResults, parsed.dataInfo)


def _jsonl(key: str, pages: Sequence[BaseModel], info: BaseModel) -> bytes:
    described = info.model_dump(mode="json")
    lines = [json.dumps({"result": {key: [page.model_dump(mode="json")], "dataInfo": described}}) for page in pages]
    return "\n".join(lines).encode() + b"\n"


def _timestamp(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
