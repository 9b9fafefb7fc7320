"""``POST /ocr?format=…``: a request's pages read into one document, answered in the format asked for.

What each page costs (engine calls), chosen by the request:
- document parsing, once per page: the structure (headings, lists, tables, formulas, pictures). HunyuanOCR-1.5's
  ``layout_parse`` also gives every block its box, so with 1.5 boxes cost nothing more;
- spotting, once more per page when boxes are wanted and the parsing gave none (HunyuanOCR 1.0): its lines are
  aligned with the parsed blocks (``align``) to place them;
- an engine that reads text lines only (rapidocr) is asked for spotting alone: every line a text item with its box;
- ``pdf`` is spotting alone, whatever the engine: its lines become the invisible text layer OCRmyPDF puts over
  the original pages (``searchable.py``).

``boxes`` defaults by format: ``docling``, ``chunks`` and ``doctags`` carry places, so they ask for them;
``markdown``, ``html`` and ``text`` do not show them, so they cost one call per page unless ``boxes=true``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import PurePath

from docling_core.types.doc import DoclingDocument

from gateway import protocol as wire
from gateway.chat import Report
from gateway.documents.build import PageAnswers, build_document
from gateway.documents.exports import EXPORTS
from gateway.documents.page_lines import PageLines
from gateway.documents.searchable import searchable_pdf
from gateway.errors import InvalidRequest
from gateway.media.loader import source_size
from gateway.ocr import Document, OcrService, Page, Upload
from prompts.spotting import parse_spotting

PLACED_BY_DEFAULT = ("docling", "chunks", "doctags")


@dataclass(frozen=True)
class Converted:
    """A document in one format: its bytes, their content type, and headers that describe them."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The tasks each page is read with (``None``: not asked)."""

    parsing: str | None
    spotting: str | None


class DocumentService:
    """Reads a request's pages with the tasks its format needs and exports the document they make."""

    def __init__(self, ocr: OcrService, parses_layout: bool) -> None:
        self._ocr = ocr
        self._parses_layout = parses_layout

    def plan(self, options: wire.OcrOptions) -> Plan:
        """The tasks for ``options``; a 400 for options that make no sense with a document format."""
        if options.stream:
            raise InvalidRequest(
                f"format={options.format} answers once the document is done; leave out stream.", param="stream"
            )
        if options.task is not None or options.prompt is not None:
            raise InvalidRequest(
                f"format={options.format} reads every page with the document-parsing and spotting tasks; "
                "leave out task and prompt (or use format=json).",
                param="task" if options.task is not None else "prompt",
            )
        boxes = options.boxes if options.boxes is not None else options.format in PLACED_BY_DEFAULT
        if not self._parses_layout or options.format == "pdf":
            return Plan(parsing=None, spotting="spotting")
        if boxes and "layout_parse" in self._ocr.prompt_set.tasks:
            return Plan(parsing="layout_parse", spotting=None)
        return Plan(parsing="document", spotting="spotting" if boxes else None)

    async def convert(
        self,
        document: Document,
        source: Upload,
        options: wire.OcrOptions,
        report: Report,
        *,
        at_once: int,
        timeout: float,
    ) -> Converted:
        """``source``, read into ``document``'s pages, in ``options.format``; ``timeout`` bounds making a PDF."""
        parsed, spotted = await self._read_all(document, options, report, at_once)
        if options.format == "pdf":
            return await _searchable(source, document, spotted or [], report, timeout)
        export, media_type = EXPORTS[options.format]
        # Building and exporting are CPU work (alignment, docling's serializers): off the event loop.
        name = _stem(source.filename)
        content = await asyncio.to_thread(lambda: export(_built(document, parsed, spotted, name)))
        body = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return Converted(body.encode(), media_type)

    async def build(
        self, document: Document, options: wire.OcrOptions, report: Report, *, at_once: int, name: str | None
    ) -> DoclingDocument:
        """``document``'s pages read with the tasks ``options.format`` plans, as one DoclingDocument (page numbers
        are the pages' ``index`` + 1, so a document of chosen pages keeps their numbers)."""
        parsed, spotted = await self._read_all(document, options, report, at_once)
        return await asyncio.to_thread(_built, document, parsed, spotted, _stem(name))

    async def _read_all(
        self, document: Document, options: wire.OcrOptions, report: Report, at_once: int
    ) -> tuple[list[wire.OcrPage] | None, list[wire.OcrPage] | None]:
        """The parsing and the spotting answers of every page (``None``: that task is not in the plan)."""
        plan = self.plan(options)
        parsed = await self._read(document, options, plan.parsing, at_once)
        spotted = await self._read(document, options, plan.spotting, at_once)
        _report(report, plan, [*(parsed or []), *(spotted or [])], self._ocr.prompt_set.version, len(document.pages))
        return parsed, spotted

    async def _read(
        self, document: Document, options: wire.OcrOptions, task: str | None, at_once: int
    ) -> list[wire.OcrPage] | None:
        if task is None:
            return None
        asked = options.model_copy(update={"task": task, "fields": None, "target_lang": None})
        return await self._ocr.read_pages(document, asked, at_once=at_once)


async def _searchable(
    source: Upload, document: Document, spotted: list[wire.OcrPage], report: Report, timeout: float
) -> Converted:
    """The file itself with a text layer of the spotted lines (PDF/A where it can be; the header says which)."""
    pages = []
    for page, answer in zip(document.pages, spotted, strict=True):
        width, height = source_size(page.image)
        pages.append(PageLines.from_boxes(page.index + 1, parse_spotting(answer.text, width, height), width, height))
    made = await searchable_pdf(source.data, pages, timeout=timeout)
    kind = "pdfa" if made.pdfa else "pdf"
    if report is not None:
        report["pdf"] = kind
    return Converted(made.data, "application/pdf", {"X-OCR-PDF": kind})


def _built(
    document: Document, parsed: list[wire.OcrPage] | None, spotted: list[wire.OcrPage] | None, name: str
) -> DoclingDocument:
    answers = [
        _answers(page, parsed[index].text if parsed else None, spotted[index].text if spotted else None)
        for index, page in enumerate(document.pages)
    ]
    return build_document(answers, name)


def _answers(page: Page, parsed: str | None, spotted: str | None) -> PageAnswers:
    width, height = source_size(page.image)
    return PageAnswers(page.index + 1, width, height, document=parsed, spotting=spotted)


def _stem(name: str | None) -> str:
    return PurePath(name).stem if name else "document"


def _report(report: Report, plan: Plan, pages: list[wire.OcrPage], prompt_set: str, images: int) -> None:
    if report is None:
        return
    report.update(
        task=plan.parsing or plan.spotting,
        prompt_set=prompt_set,
        prompt_tokens=sum(page.usage.prompt_tokens for page in pages),
        completion_tokens=sum(page.usage.completion_tokens for page in pages),
        images=images,
    )
