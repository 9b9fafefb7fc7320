"""Searchable PDFs: the uploaded PDF (or image) with an invisible text layer over each line where it is printed.

The gateway has read the pages already (spotting: each line with its box), through its own engine, admission
and limits; OCRmyPDF adds the text layer from those lines (our plugin, ``ocrmypdf_plugin``, reading them from a
lines file) in a worker process, ``searchable_worker``, which says what OCRmyPDF is asked to keep and how PDF/A
is made. The worker is bounded like the PDF renderer: at most ``CONCURRENT_RUNS`` at once, a deadline, memory and
CPU limits, killed with everything it started on timeout or cancellation, and dead with a SIGKILLed gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import weakref
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from gateway.documents.page_lines import PageLines, write_lines
from gateway.documents.searchable_worker import INVALID_INPUT, LINES, OUTPUT, SOURCE_IMAGE, SOURCE_PDF
from gateway.errors import InvalidRequest, RequestTimeout, ServerError
from gateway.media.loader import is_pdf

logger = logging.getLogger(__name__)
CONCURRENT_RUNS = 2  # each run keeps about one core busy
CPU_SECONDS = 60  # per run, plus CPU_SECONDS_PER_PAGE for each page
CPU_SECONDS_PER_PAGE = 10
_runs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SearchablePdf:
    """The searchable PDF, and whether it is PDF/A (PDF/A-2b) or a regular PDF."""

    data: bytes
    pdfa: bool


async def searchable_pdf(source: bytes, pages: list[PageLines], *, timeout: float) -> SearchablePdf:
    """``source`` (a PDF or an image) with a text layer of ``pages``' lines, boxes as shares of each page as the
    gateway renders it. A file that cannot be made searchable is a 400; a run that fails, a 500; one that takes
    longer than ``timeout`` seconds (waiting for a free run included), a 504."""
    try:
        async with asyncio.timeout(timeout), _semaphore():
            return await _run(source, pages)
    except TimeoutError:
        raise RequestTimeout("Making the searchable PDF took longer than the request's time allows.") from None


def _semaphore() -> asyncio.Semaphore:
    # One per event loop: a semaphore belongs to the loop it first waited on.
    return _runs.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(CONCURRENT_RUNS))


async def _run(source: bytes, pages: list[PageLines]) -> SearchablePdf:
    with tempfile.TemporaryDirectory(prefix="searchable-") as name:
        folder = Path(name)
        await asyncio.to_thread(_write_inputs, folder, source, pages)
        cpu_seconds = CPU_SECONDS + CPU_SECONDS_PER_PAGE * max(len(pages), 1)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.documents.searchable_worker",
            str(folder),
            str(os.getpid()),
            str(cpu_seconds),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: Ghostscript, when OCRmyPDF starts it, goes with it
        )
        try:
            output, errors = await process.communicate()
        finally:
            if process.returncode is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        return await _result(process.returncode, output, errors, folder)


def _write_inputs(folder: Path, source: bytes, pages: list[PageLines]) -> None:
    (folder / (SOURCE_PDF if is_pdf(source) else SOURCE_IMAGE)).write_bytes(source)
    write_lines(folder / LINES, pages)


async def _result(returncode: int | None, output: bytes, errors: bytes, folder: Path) -> SearchablePdf:
    if returncode == INVALID_INPUT:
        raise InvalidRequest(output.decode(errors="replace").strip(), param="file")
    if returncode != 0:
        logger.error("The searchable-PDF worker failed (exit %s): %s", returncode, errors.decode(errors="replace"))
        raise ServerError("The searchable PDF could not be made.")
    if errors:
        logger.debug("OCRmyPDF: %s", errors.decode(errors="replace").strip())
    pdfa = bool(json.loads(output)["pdfa"])
    return SearchablePdf(await asyncio.to_thread((folder / OUTPUT).read_bytes), pdfa)
