"""docling-serve's conversion, done with HunyuanOCR: sources in, each read into a DoclingDocument
(``DocumentService.read_document``, as ``/ocr?format=docling``) and exported in the formats asked for.

One answer per request, as docling-serve gives it: one document in the body (``ConvertDocumentResponse``), or a
zip of ``<name>.md`` / ``.json`` / ``.html`` / ``.txt`` / ``.doctags`` files for several sources or a zip target.
A source that cannot be read (not a scan, a broken PDF) fails alone, with its reason in ``errors``; a request whose
only source fails is answered with that 4xx.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from docling_core.types.doc import DoclingDocument

from gateway import ocr_protocol
from gateway.docling_serve import wire
from gateway.documents.convert import DocumentService
from gateway.documents.exports import to_doctags, to_html, to_json, to_markdown, to_text
from gateway.errors import ClientError, InvalidRequest
from gateway.media.fetch import MediaFetcher
from gateway.media.loader import is_pdf
from gateway.ocr import Document, OcrService, Upload

MODULE = "hunyuan-ocr-gateway"
ZIP_SUFFIXES = {"md": "md", "json": "json", "html": "html", "text": "txt", "doctags": "doctags"}
# Options that ask for work HunyuanOCR does not do (other OCR engines, picture models, enrichments): accepted,
# and named in ``errors`` so the caller knows they had no effect.
UNHONOURED_OPTIONS = {
    "ocr_engine": None,
    "ocr_preset": None,
    "ocr_custom_config": None,
    "pipeline": "standard",
    "vlm_pipeline_model": None,
    "vlm_pipeline_model_local": None,
    "vlm_pipeline_model_api": None,
    "vlm_pipeline_preset": None,
    "vlm_pipeline_custom_config": None,
    "do_picture_description": False,
    "picture_description_local": None,
    "picture_description_api": None,
    "picture_description_preset": None,
    "picture_description_custom_config": None,
    "do_picture_classification": False,
    "do_chart_extraction": False,
    "do_code_enrichment": False,
    "include_page_images": False,
    "chunking_options": None,
    "chunking_preset": None,
}
# Form fields arrive as text: these spellings of an option's default mean it was left alone.
_DEFAULT_SPELLINGS = {None: ("", "null", "none"), False: ("", "false", "0"), "standard": ("standard",)}


@dataclass
class Source:
    """One source: its bytes, or why they could not be had (``failed``)."""

    upload: Upload
    document: Document | None = None
    failed: ClientError | None = None

    @property
    def name(self) -> str:
        return self.upload.filename or "document"


@dataclass
class Read:
    """One source read: its DoclingDocument (None when it could not be read) and what went wrong or warns."""

    name: str
    document: DoclingDocument | None
    errors: list[wire.ErrorItem]

    @property
    def status(self) -> wire.ConversionStatus:
        return "failure" if self.document is None else "success"


@dataclass
class Converted:
    """A request's sources converted: each one's export, status and errors, and the wall time it took."""

    documents: list[tuple[wire.ExportDocumentResponse, wire.ConversionStatus, list[wire.ErrorItem]]]
    processing_time: float
    warnings: list[wire.ErrorItem] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(status == "failure" for _, status, _ in self.documents)


class DoclingConverter:
    def __init__(self, documents: DocumentService, ocr: OcrService, fetcher: MediaFetcher) -> None:
        self._documents = documents
        self._ocr = ocr
        self._fetcher = fetcher

    async def fetch_sources(self, request: wire.ConvertSourcesRequest | wire.ChunkSourcesRequest) -> list[Upload]:
        """Every source's bytes: base64 decoded, URLs fetched through the media fetcher's SSRF guard."""
        uploads = []
        for index, source in enumerate(request.all_sources()):
            if isinstance(source, wire.FileSource):
                try:
                    data = base64.b64decode(source.base64_string, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidRequest("base64_string is not base64.", param=f"sources[{index}]") from None
                uploads.append(Upload(source.filename, "application/octet-stream", data))
            else:
                mime, data = await self._fetcher.fetch(source.url, param=f"sources[{index}].url")
                uploads.append(Upload(_url_name(source.url), mime.split(";")[0].strip().lower(), data))
        return uploads

    async def load(self, uploads: list[Upload], options: wire.ConvertOptions) -> list[Source]:
        """Each upload decoded into its pages (those in ``page_range``); one that cannot be, failed alone."""
        return list(await asyncio.gather(*(self._load(upload, options) for upload in uploads)))

    async def _load(self, upload: Upload, options: wire.ConvertOptions) -> Source:
        kind = "pdf" if is_pdf(upload.data) else "image"
        if kind not in options.from_formats:
            return Source(upload, failed=InvalidRequest(f"{kind} is not in from_formats.", param="from_formats"))
        try:
            document = await self._ocr.load([upload])
        except ClientError as error:
            return Source(upload, failed=error)
        first, last = options.page_range
        pages = [page for page in document.pages if first <= (page.number or 1) <= last]
        if not pages:
            return Source(upload, failed=InvalidRequest("page_range holds none of its pages.", param="page_range"))
        return Source(upload, Document(pages, document.paged, document.media_ms, document.started))

    async def read(
        self,
        sources: list[Source],
        options: wire.ConvertOptions,
        report: dict[str, Any] | None,
        *,
        at_once: int,
        reading: Literal["docling", "markdown"],
    ) -> list[Read]:
        """Every loaded source read into a DoclingDocument with the ``reading`` plan (one that failed to load kept,
        failed, with its reason)."""
        reads = []
        for source in sources:
            if source.document is None:
                assert source.failed is not None
                error = wire.ErrorItem(
                    component_type="user_input", module_name=MODULE, error_message=source.failed.message
                )
                reads.append(Read(source.name, None, [error]))
                continue
            asked = ocr_protocol.OcrOptions(format=reading, boxes=options.boxes, max_tokens=options.max_tokens)
            built = await self._documents.read_document(
                source.document, source.upload.filename, asked, report, at_once=at_once
            )
            reads.append(Read(source.name, built.document, [_reading_warning(warning) for warning in built.warnings]))
        return reads

    async def convert(
        self, sources: list[Source], options: wire.ConvertOptions, report: dict[str, Any] | None, *, at_once: int
    ) -> Converted:
        """Every loaded source read and exported in ``options.to_formats``."""
        started = time.perf_counter()
        reads = await self.read(sources, options, report, at_once=at_once, reading=_reading_format(options))
        documents: list[tuple[wire.ExportDocumentResponse, wire.ConversionStatus, list[wire.ErrorItem]]] = []
        for read in reads:
            exported = wire.ExportDocumentResponse(filename=read.name)
            if read.document is not None:
                exported = await asyncio.to_thread(_export, read.document, read.name, options)
            documents.append((exported, read.status, read.errors))
        return Converted(documents, time.perf_counter() - started, ignored_options(options))


def page_count(sources: list[Source]) -> int:
    """The pages of the sources that could be read (at least one): the engine slots their conversion takes."""
    return max(1, sum(len(source.document.pages) for source in sources if source.document is not None))


def respond(converted: Converted, options: wire.ConvertOptions, target: wire.Target) -> tuple[bytes, str]:
    """The answer's body and content type: one document as JSON, or a zip of every document's files."""
    if len(converted.documents) == 1 and target.kind == "inbody" and not options.return_as_file:
        exported, status, errors = converted.documents[0]
        response = wire.ConvertDocumentResponse(
            document=exported,
            status=status,
            errors=[*converted.warnings, *errors],
            processing_time=converted.processing_time,
        )
        return response.model_dump_json(exclude_none=False).encode(), "application/json"
    return _zipped(converted, options), "application/zip"


def _reading_warning(message: str) -> wire.ErrorItem:
    """A page the model answered in a form that could not be read as it is (its text is kept as plain text)."""
    return wire.ErrorItem(component_type="model", module_name=MODULE, error_message=message)


def ignored_options(options: wire.ConvertOptions) -> list[wire.ErrorItem]:
    """Warnings for options this gateway cannot honour (left at their defaults they say nothing)."""
    asked = options.model_extra or {}
    ignored = [name for name, default in UNHONOURED_OPTIONS.items() if not _is_default(asked.get(name), default)]
    messages = [f"{name} is ignored: every page is read by HunyuanOCR." for name in ignored]
    if not options.do_ocr:
        messages.append("do_ocr=false is ignored: pages are scans, read by HunyuanOCR.")
    if options.image_export_mode != "placeholder":
        messages.append(f"image_export_mode={options.image_export_mode} is ignored: pictures are placeholders.")
    messages += [f"to_formats {name} is not made here." for name in options.to_formats if name not in wire.MADE_FORMATS]
    return [
        wire.ErrorItem(component_type="user_input", module_name=MODULE, error_message=message, category="policy")
        for message in messages
    ]


def _is_default(value: Any, default: Any) -> bool:
    if value is None or value == default:
        return True
    return isinstance(value, str) and value.strip().lower() in _DEFAULT_SPELLINGS.get(default, ())


def _reading_format(options: wire.ConvertOptions) -> Literal["docling", "markdown"]:
    """The ``/ocr`` format whose reading plan fits: one with places when JSON or DocTags are asked for."""
    return "docling" if {"json", "doctags"} & set(options.to_formats) else "markdown"


def _export(document: DoclingDocument, filename: str, options: wire.ConvertOptions) -> wire.ExportDocumentResponse:
    wanted = set(options.to_formats)
    return wire.ExportDocumentResponse(
        filename=filename,
        md_content=to_markdown(document, options.md_page_break_placeholder) if "md" in wanted else None,
        json_content=to_json(document) if "json" in wanted else None,
        html_content=to_html(document) if "html" in wanted else None,
        text_content=to_text(document) if "text" in wanted else None,
        doctags_content=to_doctags(document) if "doctags" in wanted else None,
    )


def _zipped(converted: Converted, options: wire.ConvertOptions) -> bytes:
    """docling-serve's zip: ``<stem>.<suffix>`` per document and format (a repeated stem gets ``_2``, …)."""
    buffer = io.BytesIO()
    stems: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for exported, status, _ in converted.documents:
            if status == "failure":
                continue
            stem = _unique(PurePosixPath(exported.filename).stem or "document", stems)
            for name in dict.fromkeys(options.to_formats):  # a format asked twice is one file
                content = getattr(exported, f"{name}_content", None) if name in ZIP_SUFFIXES else None
                if content is not None:
                    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
                    archive.writestr(f"{stem}.{ZIP_SUFFIXES[name]}", text)
    return buffer.getvalue()


def _unique(stem: str, taken: set[str]) -> str:
    name, number = stem, 1
    while name in taken:
        number += 1
        name = f"{stem}_{number}"
    taken.add(name)
    return name


def _url_name(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).name or "document"
