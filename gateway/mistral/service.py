"""``POST /v1/ocr``: a Mistral OCR request's document found, read into a DoclingDocument, answered page by page.

Where the document comes from:
- a ``data:`` URL (Open WebUI's base64 mode), decoded here;
- a URL this server signed (``GET /v1/files/{id}/url``, Open WebUI's default flow), read from the file store — never
  fetched over HTTP, so it works whatever host name the client reached us by;
- any other http(s) URL, downloaded through the SSRF guard (``gateway/media/fetch.py``: public hosts only unless
  ``--allow-private-media``);
- ``{"type": "file", "file_id"}``, the key's own uploaded file.

The bytes decide what the file is (a PDF, or an image): Open WebUI declares every upload ``application/pdf``,
images included, and Mistral reads them all. Each page's Markdown is the DoclingDocument's Markdown export of
that page (``gateway/documents/``), the same Markdown ``/ocr?format=markdown`` gives for the whole document.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from docling_core.types.doc import DoclingDocument

from gateway.chat import Report
from gateway.documents.convert import DocumentService
from gateway.documents.exports import to_markdown
from gateway.errors import GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from gateway.jobstore.files import FileStore
from gateway.jobstore.signed_urls import UrlSigner
from gateway.jobstore.wire import FileObject
from gateway.media.fetch import MediaFetcher
from gateway.media.loader import parse_data_url, source_size
from gateway.media.pdf import RENDER_DPI
from gateway.media.pdf_worker import MAX_RENDER_DPI
from gateway.mistral import wire
from gateway.ocr import Document, OcrService, Upload
from gateway.ocr_protocol import OcrOptions

MARKDOWN = OcrOptions(format="markdown")
UNDECLARED = "application/octet-stream"  # the bytes decide (see above)
IMAGE_DPI = 72  # an image has no physical size: one pixel per point, as docling takes it


class MistralOcr:
    """Finds a request's document and reads it with the document pipeline."""

    def __init__(
        self,
        ocr: OcrService,
        documents: DocumentService,
        fetcher: MediaFetcher,
        *,
        max_bytes: int,
        model_name: str,
        signer: UrlSigner | None,
    ) -> None:
        self._ocr = ocr
        self._documents = documents
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._model_name = model_name
        self._signer = signer

    async def fetch(self, document: wire.Document, owner: str, files: FileStore | None) -> Upload:
        """The document's bytes (and its name, when known)."""
        if isinstance(document, wire.FileChunk):
            if files is None:
                raise InvalidRequest(
                    "This server keeps no files (it runs without a data directory): send the document as a data: URL.",
                    param="document.file_id",
                )
            return await self._stored(files, await files.get(owner, document.file_id, param="document.file_id"))
        if isinstance(document, wire.DocumentURLChunk):
            url, param, name = document.document_url, "document.document_url", document.document_name
        else:
            url, param, name = document.url, "document.image_url", None
        if url.startswith("data:"):
            _, data = await asyncio.to_thread(parse_data_url, url, max_bytes=self._max_bytes, param=param)
            return Upload(name, UNDECLARED, data)
        signed = self._signer.own_file(url) if self._signer is not None else None
        if signed is not None and files is not None:
            return await self._stored(files, await files.get_signed(signed))
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest("The URL must be a data: URL or an http(s) URL.", param=param)
        _, data = await self._fetcher.fetch(url, param=param)
        return Upload(name, UNDECLARED, data)

    async def load(self, upload: Upload, pages: list[int] | None) -> Document:
        """The document's pages, only those ``pages`` chooses (0-based) when given."""
        try:
            document = await self._ocr.load([upload])
        except GatewayError as error:
            error.param = "document"  # the loader names uploads file[0]; here the one upload is the document
            raise
        if pages is None:
            return document
        chosen = set(pages)
        if missing := sorted(chosen - {page.index for page in document.pages}):
            raise InvalidRequest(
                f"The document has {len(document.pages)} pages (0 to {len(document.pages) - 1}); "
                f"there is no page {missing[0]}.",
                param="pages",
            )
        return replace(document, pages=[page for page in document.pages if page.index in chosen])

    async def read(
        self, document: Document, upload: Upload, report: Report, *, at_once: int
    ) -> wire.MistralOcrResponse:
        """Every page's Markdown, ``at_once`` pages in the engine at a time."""
        built = await self._documents.read_document(document, upload.filename, MARKDOWN, report, at_once=at_once)
        pages = await asyncio.to_thread(_pages, built.document, document)
        usage = wire.UsageInfo(pages_processed=len(pages), doc_size_bytes=len(upload.data))
        return wire.MistralOcrResponse(
            pages=pages, model=self._model_name, usage_info=usage, warnings=built.warnings or None
        )

    async def _stored(self, files: FileStore, found: FileObject) -> Upload:
        if found.bytes > self._max_bytes:
            raise PayloadTooLarge(f"The file holds more than {self._max_bytes} bytes.", param="document")
        try:
            data = await files.read(found.id)
        except FileNotFoundError:  # deleted since its row was read
            raise NotFound(f"No such File object: {found.id}", param="document") from None
        return Upload(found.filename, UNDECLARED, data)


def _pages(built: DoclingDocument, document: Document) -> list[wire.MistralOcrPage]:
    pages = []
    for page in document.pages:
        width, height = source_size(page.image)
        dpi = page.image.info.get(RENDER_DPI, MAX_RENDER_DPI) if page.number is not None else IMAGE_DPI
        pages.append(
            wire.MistralOcrPage(
                index=page.index,
                markdown=to_markdown(built, page_no=page.index + 1),
                dimensions=wire.PageDimensions(dpi=dpi, height=height, width=width),
            )
        )
    return pages
