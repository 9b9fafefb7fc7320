"""PaddleX serving's ``/ocr`` and ``/layout-parsing``: a request's file found, read, answered page by page.

``file`` is an http(s) URL, downloaded through the SSRF guard (``gateway/media/fetch.py``: public hosts only unless
``--allow-private-media``), or the file's bytes in base64. OCR lines come from the spotting task (text with its box,
in the page's pixels); layout parsing is each page's Markdown export of the DoclingDocument the document pipeline
builds (``gateway/documents/``), the same Markdown ``/ocr?format=markdown`` and Mistral's ``/v1/ocr`` give.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from docling_core.types.doc import DoclingDocument

from gateway.chat import Report
from gateway.documents.convert import DocumentService
from gateway.documents.exports import to_markdown
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge
from gateway.media.fetch import MediaFetcher
from gateway.media.loader import is_pdf, source_size
from gateway.ocr import Document, OcrService, Page, Upload
from gateway.ocr_protocol import OcrOptions, OcrPage
from gateway.paddlex import wire

SPOTTING = OcrOptions(task="spotting")
MARKDOWN = OcrOptions(format="markdown")
UNDECLARED = "application/octet-stream"
KINDS = {0: "PDF", 1: "image"}


class PaddleX:
    """Finds a request's file and reads it with the OCR and document pipelines."""

    def __init__(self, ocr: OcrService, documents: DocumentService, fetcher: MediaFetcher, *, max_bytes: int) -> None:
        self._ocr = ocr
        self._documents = documents
        self._fetcher = fetcher
        self._max_bytes = max_bytes

    async def load(self, asked: wire.PaddleXRequest) -> Document:
        """The file's decoded pages; a ``fileType`` the bytes contradict is refused."""
        if asked.file.startswith(("http://", "https://")):
            data = await self.fetch(asked.file, param="file")
        else:
            data = await asyncio.to_thread(self._decoded, asked.file)
        if asked.fileType is not None and is_pdf(data) != (asked.fileType == 0):
            raise InvalidRequest(
                f"fileType {asked.fileType} says the file is a {KINDS[asked.fileType]}, but it is not.",
                param="fileType",
            )
        return await self.read(data)

    async def fetch(self, url: str, *, param: str) -> bytes:
        """A file's bytes from an http(s) URL, through the SSRF guard."""
        _, data = await self._fetcher.fetch(url, param=param)
        return data

    async def read(self, data: bytes) -> Document:
        """A file's decoded pages (which do not keep its bytes); a file that is neither an image nor a PDF is a 4xx."""
        try:
            return await self._ocr.load([Upload(None, UNDECLARED, data)])
        except GatewayError as error:
            error.param = "file"  # the loader names uploads file[0]; here the one upload is the file
            raise

    async def ocr(self, document: Document, report: Report, *, at_once: int) -> wire.PaddleXOcrResponse:
        """Every page's text lines with their boxes, ``at_once`` pages in the engine at a time; ``report``: the
        request's log fields, None for work that is no request's (a job)."""
        pages = await self._ocr.read_pages(document, SPOTTING, at_once=at_once)
        if report is not None:
            report.update(task="spotting", images=len(pages))
        results = [
            wire.OcrResult(prunedResult=_lines(page, read)) for page, read in zip(document.pages, pages, strict=True)
        ]
        return wire.PaddleXOcrResponse(result=wire.OcrAnswer(ocrResults=results, dataInfo=_data_info(document)))

    async def layout_parsing(
        self, document: Document, report: Report, *, at_once: int
    ) -> wire.PaddleXLayoutParsingResponse:
        """Every page's Markdown, ``at_once`` pages in the engine at a time; ``report`` as ``ocr``'s."""
        built = await self._documents.read_document(document, None, MARKDOWN, report, at_once=at_once)
        results = await asyncio.to_thread(_layout_results, built.document, document)
        answer = wire.LayoutParsingAnswer(layoutParsingResults=results, dataInfo=_data_info(document))
        return wire.PaddleXLayoutParsingResponse(result=answer)

    def _decoded(self, file: str) -> bytes:
        # Base64 is a third larger than its bytes: refuse by length before decoding.
        if len(file) * 3 // 4 > self._max_bytes:
            raise PayloadTooLarge(f"The file holds more than {self._max_bytes} bytes.", param="file")
        try:
            return base64.b64decode(file, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("file is neither an http(s) URL nor valid base64.", param="file") from None


def _lines(page: Page, read: OcrPage) -> dict[str, object]:
    """One page's spotting answer as PP-OCR's ``prunedResult``."""
    boxes = [(box["text"], list(box["box"])) for box in read.boxes or [] if str(box["text"]).strip()]
    if not boxes and read.text.strip():
        # Text the model gave without places is kept, placed on the whole page, rather than lost.
        width, height = source_size(page.image)
        boxes = [(line, [0, 0, width, height]) for line in read.text.splitlines() if line.strip()]
    return {
        "page_index": _page_index(page),
        "rec_texts": [text for text, _ in boxes],
        "rec_scores": [1.0 for _ in boxes],
        "rec_polys": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for _, (x0, y0, x1, y1) in boxes],
        "rec_boxes": [box for _, box in boxes],
    }


def _layout_results(built: DoclingDocument, document: Document) -> list[wire.LayoutParsingResult]:
    results = []
    for page in document.pages:
        width, height = source_size(page.image)
        markdown = to_markdown(built, page_no=page.index + 1)
        pruned = {"page_index": _page_index(page), "width": width, "height": height}
        results.append(wire.LayoutParsingResult(prunedResult=pruned, markdown=wire.MarkdownData(text=markdown)))
    return results


def _page_index(page: Page) -> int | None:
    """PaddleX's ``page_index``: the page's 0-based index in its PDF, None for an image."""
    return None if page.number is None else page.number - 1


def _data_info(document: Document) -> wire.ImageInfo | wire.PdfInfo:
    sizes = [source_size(page.image) for page in document.pages]
    if document.pages[0].number is None:
        return wire.ImageInfo(width=sizes[0][0], height=sizes[0][1])
    return wire.PdfInfo(numPages=len(sizes), pages=[wire.PdfPageInfo(width=w, height=h) for w, h in sizes])
