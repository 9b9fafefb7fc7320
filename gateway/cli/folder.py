"""``ocr-gateway batch PATH… --task TASK --out DIR``: OCR whole folders of images and PDFs.

Each input becomes one output file under ``--out`` (the folder structure mirrored): ``.txt``, ``.md`` or
``.json``. PDFs are split into pages here, one request per page, so a 300-page PDF is fine. Outputs are written
atomically, so an output that exists is complete: run the same command again and it carries on where it stopped.
Requests go to a running gateway (``--url``) or to an engine started in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import mimetypes
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from tqdm import tqdm

from gateway.batch.blobs import write_atomically
from gateway.config import Settings
from gateway.media.pdf_worker import page_images

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"})
MARKDOWN_TASKS = frozenset({"document", "layout_parse", "chart", "table", "formula"})
RETRIES = 5  # for 429/503 (busy or still loading) and dropped connections
TIMEOUT = 600.0


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image or PDF files, or folders of them")
    parser.add_argument("--task", default="auto", help="OCR task for every input: text, document, table, … (auto)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results (mirrors the inputs)")
    parser.add_argument("--url", help="a running gateway (http://host:8000); default: start an engine in-process")
    parser.add_argument(
        "--format", choices=["txt", "md", "json"], help="output kind (default: md for document-like tasks, else txt)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, help="longest answer per page (default: the model's own setting)")


def find_jobs(paths: list[Path], out: Path, suffix: str) -> list[Job]:
    """Every image/PDF under ``paths``, each with its output path (relative to the folder it was found in)."""
    jobs = []
    for root in paths:
        found = sorted(item for item in root.rglob("*") if item.is_file()) if root.is_dir() else [root]
        for source in found:
            if source.suffix.lower() in IMAGE_SUFFIXES or source.suffix.lower() == ".pdf":
                relative = source.relative_to(root) if root.is_dir() else Path(source.name)
                jobs.append(Job(source, out / relative.with_name(f"{relative.name}.{suffix}")))
    return jobs


class FolderRun:
    """Sends every page of every job to the gateway and writes the results."""

    def __init__(
        self, client: httpx.AsyncClient, task: str, output_format: str, concurrency: int, max_tokens: int | None
    ) -> None:
        self._client, self._task, self._format, self._max_tokens = client, task, output_format, max_tokens
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._pdf_thread = ThreadPoolExecutor(max_workers=1)  # pdfium is not thread-safe
        self.failed: list[tuple[Path, str]] = []

    async def run(self, jobs: list[Job]) -> None:
        with tqdm(total=len(jobs), unit="file", dynamic_ncols=True) as progress:
            files = asyncio.Semaphore(self._concurrency)  # bounds how many files are read at once

            async def one(job: Job) -> None:
                async with files:
                    try:
                        await self._job(job)
                    except _Failed as error:
                        self.failed.append((job.source, str(error)))
                        progress.set_postfix(failed=len(self.failed))
                progress.update()

            await asyncio.gather(*(one(job) for job in jobs))
        self._pdf_thread.shutdown()

    async def _job(self, job: Job) -> None:
        pages = await self._pages(job.source)
        answers = await asyncio.gather(*(self._ask(page) for page in pages))
        text = "\n\n".join(answer["choices"][0]["message"]["content"] or "" for answer in answers)
        if self._format == "json":
            record = {
                "source": str(job.source),
                "task": self._task,
                "pages": [_page_record(number, answer) for number, answer in enumerate(answers, start=1)],
            }
            text = json.dumps(record, ensure_ascii=False, indent=2)
        await asyncio.to_thread(write_atomically, job.output, [text.encode()])

    async def _pages(self, source: Path) -> list[str]:
        """The input as image data URLs: the file itself, or one PNG per PDF page."""
        data = await asyncio.to_thread(source.read_bytes)
        if source.suffix.lower() != ".pdf":
            mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
            return [f"data:{mime};base64,{base64.b64encode(data).decode()}"]
        try:
            loop = asyncio.get_running_loop()
            pngs = await loop.run_in_executor(self._pdf_thread, _render_pdf, data)
        except Exception as error:  # pypdfium2 raises its own PdfiumError for broken files
            raise _Failed(f"cannot read the PDF: {error}") from None
        return [f"data:image/png;base64,{base64.b64encode(png).decode()}" for png in pngs]

    async def _ask(self, image_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task": self._task,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}}]}],
        }
        if self._max_tokens:
            body["max_tokens"] = self._max_tokens
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


def _render_pdf(data: bytes) -> list[bytes]:
    """Every page as a PNG, at the resolution the gateway's PDF worker renders at (no page limit here)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        return [_png(image) for image in page_images(document)]
    finally:
        document.close()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


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


def run_batch_command(args: argparse.Namespace, settings: Settings) -> int:
    """``ocr-gateway batch``: against ``--url``, or an engine of our own (the serve flags choose it)."""
    api_key = settings.api_keys[0] if settings.api_keys else None
    if args.url:
        # Either form works: http://host:8000 or the openai client's http://host:8000/v1.
        return asyncio.run(run_folder(args, args.url.rstrip("/").removesuffix("/v1"), api_key))
    return asyncio.run(_in_process(args, settings, api_key))


async def _in_process(args: argparse.Namespace, settings: Settings, api_key: str | None) -> int:
    """The gateway app with its engine, served on a private 127.0.0.1 port for the length of the run."""
    import uvicorn

    from gateway.app import build_app
    from gateway.cli.engines import create_engine
    from gateway.config import BatchSettings

    settings = replace(settings, host="127.0.0.1", port=0, batch=BatchSettings())
    engine, prompts = create_engine(settings)
    app = build_app(settings, engine, prompts)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while app.state.lifecycle.state == "loading" or not server.started:
            if serving.done():
                return 2
            await asyncio.sleep(0.5)
        if app.state.lifecycle.state != "ready":
            return 2
        port = server.servers[0].sockets[0].getsockname()[1]
        return await run_folder(args, f"http://127.0.0.1:{port}", api_key)
    finally:
        server.should_exit = True
        await serving


async def run_folder(args: argparse.Namespace, base_url: str, api_key: str | None) -> int:
    output_format = args.format or ("md" if args.task in MARKDOWN_TASKS else "txt")
    jobs = find_jobs(args.paths, args.out, output_format)
    todo = [job for job in jobs if not job.output.exists()]
    print(f"{len(jobs)} inputs, {len(jobs) - len(todo)} already done, {len(todo)} to do", file=sys.stderr)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT) as client:
        run = FolderRun(client, args.task, output_format, args.concurrency, args.max_tokens)
        await run.run(todo)
    for source, reason in run.failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    return 1 if run.failed else 0
