"""``POST /ocr?format=…``: a request's pages read into one document, answered in the format asked for.

What each page costs (engine calls), chosen by the request:
- document parsing, once per page: the structure (headings, lists, tables, formulas, pictures);
- spotting, once more per page when boxes are wanted: its lines are aligned with the parsed blocks (``align``) to
  place them. HunyuanOCR-1.5 and 1.0 alike: 1.5's ``layout_parse`` would give every block its box in one call, but
  on real answers it often gives the boxes without the text (4 of its 6 answers in ``tests/real_answers``, against
  2 of 5 for document parsing, both from broken back ends), and a page whose text is lost cannot be placed back
  — two calls that each fail alone lose a page's places at worst (``python -m bench.read_answers --plan``);
- an engine that reads text lines only (rapidocr) is asked for spotting alone: every line a text item with its box;
- ``pdf`` is spotting alone, whatever the engine: its lines become the invisible text layer OCRmyPDF puts over
  the original pages (``searchable.py``).

``boxes`` defaults by format: ``docling``, ``chunks`` and ``doctags`` carry places, so they ask for them;
``markdown``, ``html`` and ``text`` do not show them, so they cost one call per page unless ``boxes=true``.

The folder CLI (``gateway/cli/folder.py``) makes its documents with the same pieces, page by page over HTTP and
without a page limit: ``plan_pages``, ``export_document`` and ``make_searchable``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import PurePath

from gateway import ocr_protocol as ocr_wire
from gateway.chat import Report
from gateway.documents.build import Built, PageAnswers, build_document
from gateway.documents.exports import EXPORTS
from gateway.documents.page_lines import PageLines
from gateway.documents.searchable import SearchablePdf, searchable_pdf
from gateway.errors import InvalidRequest
from gateway.media.loader import source_size
from gateway.ocr import Document, OcrService, Page, PageDone, Upload
from prompts.spotting import parse_spotting

PLACED_BY_DEFAULT = ("docling", "chunks", "doctags")


@dataclass(frozen=True)
class Converted:
    """A document in one format: its bytes, their content type, headers that describe them, and what its reading
    warns of."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """The tasks each page is read with (``None``: not asked)."""

    parsing: str | None
    spotting: str | None

    @property
    def passes(self) -> int:
        """How many times each page is read."""
        return (self.parsing is not None) + (self.spotting is not None)


class DocumentService:
    """Reads a request's pages with the tasks its format needs and exports the document they make."""

    def __init__(self, ocr: OcrService, parses_layout: bool) -> None:
        self._ocr = ocr
        self._parses_layout = parses_layout

    def plan(self, options: ocr_wire.OcrOptions) -> Plan:
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
        return plan_pages(options.format, options.boxes, parses_layout=self._parses_layout)

    async def convert(
        self,
        document: Document,
        source: Upload,
        options: ocr_wire.OcrOptions,
        report: Report,
        *,
        at_once: int,
        timeout: float,
        on_page: PageDone | None = None,
    ) -> Converted:
        """``source``, read into ``document``'s pages, in ``options.format``; ``timeout`` bounds making a PDF;
        ``on_page`` is told as each page's reading is in (once per page and task of the plan)."""
        answers = await self._page_answers(document, options, report, at_once, on_page)
        if options.format == "pdf":
            return await _searchable(source, answers, report, timeout)
        # Building and exporting are CPU work (alignment, docling's serializers): off the event loop.
        converted = await asyncio.to_thread(export_document, answers, options.format, _stem(source.filename))
        _report_warnings(report, converted.warnings)
        return converted

    async def read_document(
        self, document: Document, filename: str | None, options: ocr_wire.OcrOptions, report: Report, *, at_once: int
    ) -> Built:
        """``document``'s pages read with the tasks ``options`` plan, built into one DoclingDocument (for APIs
        that export several formats of one reading), with what its reading warns of."""
        answers = await self._page_answers(document, options, report, at_once)
        built = await asyncio.to_thread(build_document, answers, _stem(filename))
        _report_warnings(report, built.warnings)
        return built

    async def _page_answers(
        self,
        document: Document,
        options: ocr_wire.OcrOptions,
        report: Report,
        at_once: int,
        on_page: PageDone | None = None,
    ) -> list[PageAnswers]:
        plan = self.plan(options)
        parsed = await self._read(document, options, plan.parsing, at_once, on_page) if plan.parsing else None
        spotted = await self._read(document, options, plan.spotting, at_once, on_page) if plan.spotting else None
        _report(report, plan, [*(parsed or []), *(spotted or [])], self._ocr.prompt_set.version, len(document.pages))
        return [
            _answers(page, parsed[index] if parsed else None, spotted[index] if spotted else None)
            for index, page in enumerate(document.pages)
        ]

    async def _read(
        self, document: Document, options: ocr_wire.OcrOptions, task: str, at_once: int, on_page: PageDone | None
    ) -> list[ocr_wire.OcrPage]:
        asked = options.model_copy(update={"task": task, "fields": None, "target_lang": None})
        return await self._ocr.read_pages(document, asked, at_once=at_once, on_page=on_page)


def plan_pages(format: str, boxes: bool | None, *, parses_layout: bool) -> Plan:
    """The tasks a document in ``format`` reads each page with, on an engine that ``parses_layout`` (or reads text
    lines only); ``boxes`` None: as the format needs (``PLACED_BY_DEFAULT``)."""
    boxes = boxes if boxes is not None else format in PLACED_BY_DEFAULT
    if not parses_layout or format == "pdf":
        return Plan(parsing=None, spotting="spotting")
    return Plan(parsing="document", spotting="spotting" if boxes else None)


def export_document(pages: list[PageAnswers], format: str, name: str) -> Converted:
    """``pages`` built into one DoclingDocument called ``name``, exported in ``format`` (any but ``pdf``)."""
    export, media_type = EXPORTS[format]
    built = build_document(pages, name)
    content = export(built.document)
    body = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return Converted(body.encode(), media_type, warnings=built.warnings)


async def make_searchable(source: bytes, pages: list[PageAnswers], *, timeout: float) -> SearchablePdf:
    """``source`` (the PDF or image the pages were read from) with a text layer of each page's spotted lines."""
    lines = [
        PageLines.from_boxes(
            page.number, parse_spotting(page.spotting or "", page.width, page.height), page.width, page.height
        )
        for page in pages
    ]
    return await searchable_pdf(source, lines, timeout=timeout)


async def _searchable(source: Upload, pages: list[PageAnswers], report: Report, timeout: float) -> Converted:
    """The file itself with a text layer of the spotted lines (PDF/A where it can be; the header says which)."""
    made = await make_searchable(source.data, pages, timeout=timeout)
    kind = "pdfa" if made.pdfa else "pdf"
    if report is not None:
        report["pdf"] = kind
    return Converted(made.data, "application/pdf", {"X-OCR-PDF": kind})


def _answers(page: Page, parsed: ocr_wire.OcrPage | None, spotted: ocr_wire.OcrPage | None) -> PageAnswers:
    width, height = source_size(page.image)
    warnings = [warning for answer in (parsed, spotted) if answer is not None for warning in answer.warnings or []]
    return PageAnswers(
        page.index + 1,
        width,
        height,
        document=parsed.text if parsed else None,
        spotting=spotted.text if spotted else None,
        warnings=tuple(warnings),
    )


def _stem(name: str | None) -> str:
    return PurePath(name).stem if name else "document"


def _report_warnings(report: Report, warnings: list[str]) -> None:
    if report is not None and warnings:
        report["warnings"] = warnings


def _report(report: Report, plan: Plan, pages: list[ocr_wire.OcrPage], prompt_set: str, images: int) -> None:
    if report is None:
        return
    report.update(
        task=plan.parsing or plan.spotting,
        prompt_set=prompt_set,
        prompt_tokens=sum(page.usage.prompt_tokens for page in pages),
        completion_tokens=sum(page.usage.completion_tokens for page in pages),
        images=images,
    )
