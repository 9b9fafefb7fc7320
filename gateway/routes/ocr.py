"""``POST /ocr``: an image or PDF as the raw body, or multipart files; options in the query or the form.

curl --data-binary @scan.jpg http://127.0.0.1:8000/ocr
curl -F file=@a.pdf -F file=@b.png -F task=table http://127.0.0.1:8000/ocr
curl -N --data-binary @doc.pdf -H "Content-Type: application/pdf" "http://127.0.0.1:8000/ocr?stream=sse"
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from gateway import edge
from gateway.admission import Ticket
from gateway.deadline import within_deadline
from gateway.documents.convert import DocumentService
from gateway.errors import InvalidRequest
from gateway.ocr import OcrService, Upload
from gateway.ocr_protocol import OcrOptions, OcrResponse, query_values
from gateway.openapi import BINARY, Endpoint, errors, operation, parameter, query_fields
from gateway.streaming import OCR_STREAM


async def ocr(request: Request) -> Response:
    edge.require_ready(request)
    service: OcrService = request.app.state.ocr
    deadline = edge.start_deadline(request)  # decoding the files counts too
    uploads, form_fields = await edge.read_uploads(request, max_files=service.max_pages)
    options = edge.parse(OcrOptions, query_values([*request.query_params.multi_items(), *form_fields]))
    report = edge.log_fields(request)
    if options.format != "json":
        return await _document(request, uploads, options, deadline)
    document = await within_deadline(deadline, service.load(uploads))
    # Every page takes an engine slot (or a place in the queue): all are admitted before any runs.
    pages = len(document.pages)
    if options.stream:
        return await edge.stream(
            request,
            lambda ticket: service.stream(document, options, report, at_once=ticket.slots),
            transport=options.stream,
            format=OCR_STREAM,
            slots=pages,
            deadline=deadline,
        )
    return await edge.answer(
        request,
        lambda ticket: edge.as_json(service.recognize(document, options, report, at_once=ticket.slots)),
        slots=pages,
        deadline=deadline,
    )


async def _document(request: Request, uploads: list[Upload], options: OcrOptions, deadline: float) -> Response:
    """One file read into a document and answered in ``options.format`` (``gateway/documents/convert.py``)."""
    documents: DocumentService = request.app.state.documents
    documents.plan(options)  # refuses what makes no sense before any decoding
    if len(uploads) > 1:
        raise InvalidRequest(f"format={options.format} makes one document of one file; send one.", param="file")
    document = await within_deadline(deadline, request.app.state.ocr.load(uploads))
    report = edge.log_fields(request)

    async def work(ticket: Ticket) -> Response:
        left = deadline - asyncio.get_running_loop().time()
        converted = await documents.convert(document, uploads[0], options, report, at_once=ticket.slots, timeout=left)
        return Response(converted.body, media_type=converted.media_type, headers=converted.headers)

    return await edge.answer(request, work, slots=len(document.pages), deadline=deadline)


def _operation() -> dict[str, object]:
    options = query_fields(OcrOptions)
    form = {"type": "object", "properties": {"file": {"type": "array", "items": BINARY}, **options}}
    return operation(
        "ocr",
        {
            200: {
                "description": "The text (JSON), progress events (NDJSON / SSE) when stream is set, or one document "
                "in the format asked for (Markdown, HTML, text, DocTags; DoclingDocument or chunks as JSON)",
                "content": {
                    "application/json": {"schema": OcrResponse},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/event-stream": {"schema": {"type": "string"}},
                    "text/markdown": {"schema": {"type": "string"}},
                    "text/html": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                    "application/pdf": {"schema": BINARY},
                },
            },
            **errors(400, 401, 413, 415, 429, 500, 503, 504),
        },
        description="Images or PDFs in, text out. Each image and PDF page is one chat request with the task given.",
        parameters=[parameter(name, "query", schema) for name, schema in options.items()],
        requestBody={
            "required": True,
            "content": {
                "image/png": {"schema": BINARY},
                "image/jpeg": {"schema": BINARY},
                "application/pdf": {"schema": BINARY},
                "multipart/form-data": {"schema": form},
            },
        },
    )


ENDPOINTS = [Endpoint("POST", "/ocr", ocr, _operation())]
