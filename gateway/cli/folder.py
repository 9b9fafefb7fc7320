"""``ocr-gateway batch PATH… --task TASK --out DIR``: OCR whole folders of images and PDFs.

Each input becomes one output file under ``--out`` (the folder structure mirrored). Two kinds of output:

- the task's answers, page by page: ``txt`` (joined), ``json`` (each page's text, ``ocr`` extension and usage),
  and ``md`` with a ``--task`` of its own (``table``, ``chart``, …);
- one document per input, made as ``POST /ocr?format=…`` makes it (``gateway/documents/convert.py``): ``md``
  (for ``--task auto``/``document``/``layout_parse``), ``html``, ``doctags``, ``docling`` (DoclingDocument JSON),
  ``chunks`` (JSON), and ``pdf``, the input with an invisible text layer. Each page is read with the tasks the
  gateway's ``/ocr`` would choose (``plan_pages``, from what ``/v1/models`` says), and the
  document is built and exported here, so ``--max-pdf-pages`` does not bound it.

PDFs are split into pages here, one request per page and task, so a 300-page PDF is fine. Outputs are written
atomically, so an output that exists is complete: run the same command again and it carries on where it stopped.
Requests go to a running gateway (``--url``) or to an engine started in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from tqdm import tqdm

from gateway.cli.folder_inputs import (
    SUFFIXES,
    Job,
    OverwritesInput,
    PageImage,
    UnreadableInput,
    find_jobs,
    image_page,
    pdf_pages,
)
from gateway.config import Settings
from gateway.documents.build import PageAnswers
from gateway.documents.convert import Plan, export_document, make_searchable, plan_pages
from gateway.documents.searchable import CONCURRENT_RUNS, CPU_SECONDS_PER_PAGE
from gateway.errors import GatewayError
from gateway.jobstore.blobs import write_atomically

MARKDOWN_TASKS = frozenset({"document", "layout_parse", "chart", "table", "formula"})
DOCUMENT_TASKS = frozenset({"auto", "document", "layout_parse"})  # ask for the document: the plan picks the tasks
DOCUMENT_FORMATS = {"md": "markdown", "html": "html", "doctags": "doctags", "docling": "docling", "chunks": "chunks"}
"""Our format names → ``/ocr``'s (``pdf`` is made by ``make_searchable``)."""
RETRIES = 5  # for 429/503 (busy or still loading) and dropped connections
TIMEOUT = 600.0


class CannotRun(Exception):
    """A command line that asks for what cannot be done, or a gateway that does not say what it serves (exit 2)."""


@dataclass(frozen=True)
class Batch:
    """What the command line asks for: the inputs and their results' paths, the task, and the output kind."""

    jobs: list[Job]
    task: str
    format: str  # a key of SUFFIXES
    document: bool  # one document per input (False: the task's answers, page by page)
    concurrency: int
    max_tokens: int | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Batch:
        output_format = args.format or ("md" if args.task in MARKDOWN_TASKS else "txt")
        try:
            jobs = find_jobs(args.paths, args.out, output_format)
        except OverwritesInput as error:
            raise CannotRun(str(error)) from None
        document = wants_document(output_format, args.task)
        return cls(jobs, args.task, output_format, document, args.concurrency, args.max_tokens)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image or PDF files, or folders of them")
    parser.add_argument("--task", default="auto", help="OCR task for every input: text, document, table, … (auto)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results (mirrors the inputs)")
    parser.add_argument("--url", help="a running gateway (http://host:8000); default: start an engine in-process")
    parser.add_argument(
        "--format",
        choices=list(SUFFIXES),
        help="output kind (default: md for document-like tasks, else txt); md (with --task auto or document), "
        "html, doctags, docling, chunks and pdf are one document per input, as /ocr?format=… makes it",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, help="longest answer per page (default: the model's own setting)")


def wants_document(output_format: str, task: str) -> bool:
    """Whether ``output_format`` is one document per input (else the task's answers); a usage error when a
    document format comes with a task of its own."""
    if output_format in ("txt", "json") or (output_format == "md" and task not in DOCUMENT_TASKS):
        return False
    if task not in DOCUMENT_TASKS:
        raise CannotRun(
            f"--format {output_format} reads every page with the document-parsing and spotting tasks the gateway "
            f"chooses; leave out --task (or use --format txt, md or json for --task {task})."
        )
    return True


class FolderRun:
    """Sends every page of every job to the gateway and writes the results."""

    def __init__(self, client: httpx.AsyncClient, batch: Batch, plan: Plan | None) -> None:
        self._client, self._batch, self._plan = client, batch, plan
        self._slots = asyncio.Semaphore(batch.concurrency)
        self._pdf_thread = ThreadPoolExecutor(max_workers=1)  # pdfium is not thread-safe
        self._searchable_runs = asyncio.Semaphore(CONCURRENT_RUNS)  # waiting for a run is not part of its deadline
        self.failed: list[tuple[Path, str]] = []

    async def run(self, jobs: list[Job]) -> None:
        with tqdm(total=len(jobs), unit="file", dynamic_ncols=True) as progress:
            files = asyncio.Semaphore(self._batch.concurrency)  # bounds how many files are read at once

            async def one(job: Job) -> None:
                async with files:
                    try:
                        await self._job(job)
                    except (_Failed, UnreadableInput) as error:
                        self.failed.append((job.source, str(error)))
                        progress.set_postfix(failed=len(self.failed))
                progress.update()

            await asyncio.gather(*(one(job) for job in jobs))
        self._pdf_thread.shutdown()

    async def _job(self, job: Job) -> None:
        data = await asyncio.to_thread(job.source.read_bytes)
        pages = await self._pages(job.source, data)
        if self._plan is None:
            body = await self._answers(job.source, pages)
        else:
            body = await self._document(job.source, data, pages, self._plan)
        await asyncio.to_thread(write_atomically, job.output, [body])

    async def _answers(self, source: Path, pages: list[PageImage]) -> bytes:
        """The task's answers: joined, or (json) each page's text, ``ocr`` extension and usage."""
        answers = await asyncio.gather(*(self._ask(page.url, self._batch.task) for page in pages))
        if self._batch.format != "json":
            return "\n\n".join(_content(answer) for answer in answers).encode()
        record = {
            "source": str(source),
            "task": self._batch.task,
            "pages": [_page_record(number, answer) for number, answer in enumerate(answers, start=1)],
        }
        return json.dumps(record, ensure_ascii=False, indent=2).encode()

    async def _document(self, source: Path, data: bytes, pages: list[PageImage], plan: Plan) -> bytes:
        """One document of all pages, each read with the plan's tasks, built and exported as ``/ocr`` does."""
        parsed, spotted = await asyncio.gather(self._read(pages, plan.parsing), self._read(pages, plan.spotting))
        answers = [
            PageAnswers(
                number,
                page.width,
                page.height,
                document=_content(parsed[number - 1]) if parsed else None,
                spotting=_content(spotted[number - 1]) if spotted else None,
                warnings=tuple(_warnings(parsed, number) + _warnings(spotted, number)),
            )
            for number, page in enumerate(pages, start=1)
        ]
        if self._batch.format == "pdf":
            return await self._searchable(data, answers)
        # Building and exporting are CPU work (alignment, docling's serializers): off the event loop.
        output_format = DOCUMENT_FORMATS[self._batch.format]
        converted = await asyncio.to_thread(export_document, answers, output_format, source.stem)
        for warning in converted.warnings:
            tqdm.write(f"warning: {source}: {warning}", file=sys.stderr)  # above the progress bar
        return converted.body

    async def _read(self, pages: list[PageImage], task: str | None) -> list[dict[str, Any]] | None:
        if task is None:
            return None
        return list(await asyncio.gather(*(self._ask(page.url, task) for page in pages)))

    async def _searchable(self, data: bytes, pages: list[PageAnswers]) -> bytes:
        async with self._searchable_runs:
            try:
                made = await make_searchable(data, pages, timeout=TIMEOUT + CPU_SECONDS_PER_PAGE * len(pages))
            except GatewayError as error:
                raise _Failed(f"cannot make the searchable PDF: {error.message}") from None
        return made.data

    async def _pages(self, source: Path, data: bytes) -> list[PageImage]:
        """The input as images: the file itself, or one PNG per PDF page."""
        if source.suffix.lower() != ".pdf":
            return [await asyncio.to_thread(image_page, source.name, data)]
        return await asyncio.get_running_loop().run_in_executor(self._pdf_thread, pdf_pages, data)

    async def _ask(self, image_url: str, task: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task": task,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}}]}],
        }
        if self._batch.max_tokens:
            body["max_tokens"] = self._batch.max_tokens
        reason = ""
        async with self._slots:
            for attempt in range(RETRIES):
                try:
                    response = await self._client.post("/v1/chat/completions", json=body)
                except httpx.TransportError as error:
                    reason = f"connection failed: {error}"
                else:
                    if response.status_code == 200:
                        return dict(response.json())
                    reason = _error_message(response)
                    if response.status_code not in (429, 503):
                        raise _Failed(reason)
                await asyncio.sleep(min(2**attempt, 30))
        raise _Failed(reason)


class _Failed(Exception):
    """One input could not be done; the others go on."""


def _content(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"] or "")


def _warnings(answers: list[dict[str, Any]] | None, number: int) -> list[str]:
    """What the gateway found reading page ``number``'s answer (the ``ocr`` extension's ``warnings``)."""
    return list((answers[number - 1].get("ocr") or {}).get("warnings") or []) if answers else []


def _page_record(number: int, answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "page": number,
        "text": answer["choices"][0]["message"]["content"],
        "ocr": answer.get("ocr"),
        "usage": answer.get("usage"),
    }


def _error_message(response: httpx.Response) -> str:
    try:
        return f"{response.status_code}: {response.json()['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:200]}"


async def _plan(client: httpx.AsyncClient, output_format: str) -> Plan:
    """The tasks ``/ocr?format=…`` reads each page with on this gateway: from what its engine reads."""
    models = await _get(client, "/v1/models")
    parses_layout = models["data"][0].get("parses_layout") is not False  # older gateways do not say: HunyuanOCR
    return plan_pages(DOCUMENT_FORMATS.get(output_format, output_format), None, parses_layout=parses_layout)


async def _get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    try:
        response = await client.get(path)
    except httpx.TransportError as error:
        raise CannotRun(f"cannot reach the gateway: {error}") from None
    if response.status_code != 200:
        raise CannotRun(f"GET {path}: {_error_message(response)}")
    return dict(response.json())


def run_batch_command(args: argparse.Namespace, settings: Settings) -> int:
    """``ocr-gateway batch``: against ``--url``, or an engine of our own (the serve flags choose it)."""
    try:  # before any engine starts
        batch = Batch.from_args(args)
    except CannotRun as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    api_key = settings.api_keys[0] if settings.api_keys else None
    if args.url:
        # Either form works: http://host:8000 or the openai client's http://host:8000/v1.
        return asyncio.run(run_folder(batch, args.url.rstrip("/").removesuffix("/v1"), api_key))
    return asyncio.run(_in_process(batch, settings, api_key))


async def _in_process(batch: Batch, settings: Settings, api_key: str | None) -> int:
    """The gateway app with its engine, served on a private 127.0.0.1 port for the length of the run."""
    from gateway.app import build_app
    from gateway.cli.engines import create_engine
    from gateway.config import BatchSettings

    settings = replace(settings, host="127.0.0.1", port=0, batch=BatchSettings())
    engine, prompts = create_engine(settings)
    async with serving(build_app(settings, engine, prompts)) as base_url:
        return 2 if base_url is None else await run_folder(batch, base_url, api_key)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str | None]:
    """``app`` on a private 127.0.0.1 port for the length of the block: its URL once its engine is ready, or None
    when the engine did not start."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while (app.state.lifecycle.state == "loading" or not server.started) and not task.done():
            await asyncio.sleep(0.1)
        if task.done() or app.state.lifecycle.state != "ready":
            yield None
        else:
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def run_folder(batch: Batch, base_url: str, api_key: str | None) -> int:
    """Every job not done yet through the gateway at ``base_url``; 1 when some failed (each is listed)."""
    todo = [job for job in batch.jobs if not job.output.exists()]
    print(f"{len(batch.jobs)} inputs, {len(batch.jobs) - len(todo)} already done, {len(todo)} to do", file=sys.stderr)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT) as client:
        try:
            plan = await _plan(client, batch.format) if batch.document and todo else None
        except CannotRun as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        run = FolderRun(client, batch, plan)
        await run.run(todo)
    for source, reason in run.failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    return 1 if run.failed else 0
