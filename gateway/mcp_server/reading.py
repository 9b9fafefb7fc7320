"""What the MCP tools do with a call: find the document, pick its pages, read it holding engine slots.

A document comes as an http(s) URL (fetched through the SSRF guard, as image URLs are), a ``data:`` URL or bare
base64 of the file, or the id of a file the caller uploaded through ``/v1/files`` — the same sources Mistral's OCR
API takes (``gateway/mistral/service.py`` finds them). Never a path: this server reads no file of its own disk for
a caller (``ocr-gateway mcp`` reads the caller's local files on the caller's machine and sends their bytes).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from starlette.datastructures import State
from starlette.requests import Request

from adapters.errors import EngineFault
from gateway import edge
from gateway.admission import AdmissionControl
from gateway.deadline import within_deadline
from gateway.errors import GatewayError, InvalidRequest, from_engine_error
from gateway.jobstore.files import kept_files
from gateway.middleware.auth import key_owner
from gateway.mistral import wire as mistral
from gateway.ocr import Document, Upload

T = TypeVar("T")
_PAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
BASE64_DATA_URL = "data:application/octet-stream;base64,"
_BASE64 = re.compile(r"^[A-Za-z0-9+/_\-\s]+=*\s*$")
ProgressReport = Callable[[float, float | None, str | None], Awaitable[None]]


def as_tool_error(error: GatewayError | EngineFault) -> ToolError:
    """The error as the plain sentence an agent reads (the tool result's ``isError``)."""
    translated = from_engine_error(error) if isinstance(error, EngineFault) else error
    retry = translated.headers.get("Retry-After")
    return ToolError(translated.message + (f" Retry in {retry} s." if retry else ""))


def parse_pages(pages: str | None, most: int) -> list[int] | None:
    """``"1-3,7"`` as the 0-based pages it names (none past ``most``); None for every page."""
    if pages is None or not pages.strip():
        return None
    chosen: set[int] = set()
    for part in pages.split(","):
        match = _PAGE_RANGE.match(part)
        if match is None:
            raise ToolError(f"pages={pages!r}: write page numbers and ranges from 1, like '1-3,7'.")
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        if first < 1 or last < first:
            raise ToolError(f"pages={pages!r}: pages count from 1, and a range runs from low to high.")
        if last > most:
            raise ToolError(f"pages={pages!r}: this server reads at most {most} pages of a document.")
        chosen.update(range(first - 1, last))
    return sorted(chosen)


class ToolCall:
    """One tool call's view of the gateway: its caller, its document, the engine slots it holds."""

    def __init__(self, request: Request | None) -> None:
        if request is None:  # the app mounts the server over HTTP only
            raise ToolError("This server answers over HTTP only.")
        state: State = request.app.state
        self.state = state
        self.owner = key_owner(request.scope)
        self.report = edge.log_fields(request)
        self.deadline = asyncio.get_running_loop().time() + state.settings.request_timeout

    def left(self) -> float:
        """Seconds until the call's deadline."""
        return self.deadline - asyncio.get_running_loop().time()

    async def document(self, source: str, pages: str | None) -> tuple[Upload, Document]:
        """The document ``source`` names, with only the ``pages`` asked for."""
        if self.state.lifecycle.state != "ready":
            raise ToolError("The model is still loading; retry in a few seconds.")
        chosen = parse_pages(pages, self.state.ocr.max_pages)
        try:
            upload = await within_deadline(self.deadline, self._fetch(source.strip()))
            document = await within_deadline(self.deadline, self.state.ocr.load([upload]))
        except (GatewayError, EngineFault) as error:
            raise as_tool_error(error) from None
        if chosen is None:
            return upload, document
        if chosen[-1] >= len(document.pages):
            raise ToolError(f"The document has {len(document.pages)} page(s); there is no page {chosen[-1] + 1}.")
        return upload, replace(document, pages=[document.pages[index] for index in chosen])

    async def run(self, document: Document, work: Callable[[int], Awaitable[T]]) -> T:
        """``work(at_once)``, holding an engine slot per page (waiting in the queue as any request does)."""
        admission: AdmissionControl = self.state.admission
        try:
            ticket = await admission.enter(len(document.pages))
        except InvalidRequest as too_many:
            raise ToolError(f"{too_many.message} Ask for fewer pages at a time (the pages argument).") from None
        except GatewayError as error:
            raise as_tool_error(error) from None
        try:
            return await within_deadline(self.deadline, work(ticket.slots))
        except (GatewayError, EngineFault) as error:
            raise as_tool_error(error) from None
        finally:
            ticket.release()

    async def _fetch(self, source: str) -> Upload:
        files = kept_files(self.state)
        if source.startswith("file-"):
            return await self.state.mistral_ocr.fetch(mistral.FileChunk(type="file", file_id=source), self.owner, files)
        if source.startswith(("http://", "https://", "data:")):  # our own signed file URLs are read from the store
            document = mistral.DocumentURLChunk(type="document_url", document_url=source)
            return await self.state.mistral_ocr.fetch(document, self.owner, files)
        if len(source) > 64 and _BASE64.match(source):  # bare base64: read as the data URL it would be
            document = mistral.DocumentURLChunk(type="document_url", document_url=BASE64_DATA_URL + source)
            return await self.state.mistral_ocr.fetch(document, self.owner, files)
        raise ToolError(
            "source must be an http(s) URL, a data: URL or base64 of the file, or the id of a file uploaded to "
            "/v1/files (file-…). This server never reads paths on its own disk: send the file's bytes instead "
            "(`ocr-gateway mcp` does that for files on your machine)."
        )


class Progress:
    """Tells the client each page read as ``done of total`` (MCP progress notifications, when it asked)."""

    def __init__(self, report: ProgressReport, total: int) -> None:
        self._report = report
        self._total = total
        self._done = 0

    async def page_done(self) -> None:
        """One more page read (``OcrService``'s ``on_page``)."""
        self._done += 1
        await self._report(self._done, self._total, f"{self._done} of {self._total} page readings done")
