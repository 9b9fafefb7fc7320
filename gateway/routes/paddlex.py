"""PaddleX serving's API under ``/paddlex`` (``gateway/paddlex/``): PaddleOCR's own clients (``paddleocr-mcp`` in
``self_hosted`` mode, Dify's PaddleOCR plugin) take ``http://host:8000/paddlex`` as their service URL. Answers and
errors come in PaddleX's envelope, ``{logId, errorCode, errorMsg, result}``, with its 422 for a request it cannot
take; the key may come as ``Authorization: token <key>`` (PaddleX's scheme) as well as ``Bearer``.

curl -H "Content-Type: application/json" http://127.0.0.1:8000/paddlex/ocr -d '{"file": "<base64>", "fileType": 1}'
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import edge
from gateway.deadline import within_deadline
from gateway.openapi import Endpoint, json_body, operation, returns
from gateway.paddlex import wire
from gateway.paddlex.service import PaddleX

STATUSES = (401, 413, 415, 422, 429, 500, 503, 504)


def _envelope(status: int, message: str, headers: Mapping[str, str] | None) -> JSONResponse:
    body = wire.PaddleXError(errorCode=status, errorMsg=message)
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


# Errors as PaddleX serving (FastAPI) gives them: its envelope, 422 for a request it cannot take.
envelope_errors = edge.shaped_errors(_envelope, unprocessable=True)


@envelope_errors
async def ocr(request: Request) -> Response:
    edge.require_ready(request)
    deadline = edge.start_deadline(request)  # finding and decoding the file counts too
    service: PaddleX = request.app.state.paddlex
    asked = edge.parse(wire.PaddleXRequest, await edge.read_json(request))
    document = await within_deadline(deadline, service.load(asked))
    report = edge.log_fields(request)
    return await edge.answer(
        request,
        lambda ticket: edge.as_json(service.ocr(document, report, at_once=ticket.slots)),
        slots=len(document.pages),  # every page takes an engine slot; all are admitted before any runs
        deadline=deadline,
    )


@envelope_errors
async def layout_parsing(request: Request) -> Response:
    edge.require_ready(request)
    deadline = edge.start_deadline(request)
    service: PaddleX = request.app.state.paddlex
    asked = edge.parse(wire.PaddleXRequest, await edge.read_json(request))
    document = await within_deadline(deadline, service.load(asked))
    report = edge.log_fields(request)
    return await edge.answer(
        request,
        lambda ticket: edge.as_json(service.layout_parsing(document, report, at_once=ticket.slots)),
        slots=len(document.pages),
        deadline=deadline,
    )


def _errors() -> dict[int, object]:
    return {status: returns(wire.PaddleXError, "PaddleX's error envelope") for status in STATUSES}


ENDPOINTS = [
    Endpoint(
        "POST",
        "/paddlex/ocr",
        ocr,
        operation(
            "paddlexOcr",
            {200: returns(wire.PaddleXOcrResponse, "Each page's text lines with their boxes"), **_errors()},
            description="PaddleX serving's OCR pipeline API: a PDF or image (base64 or URL) in, each page's text "
            "lines (rec_texts, rec_boxes, rec_polys, rec_scores) out, from the spotting task.",
            requestBody=json_body(wire.PaddleXRequest),
        ),
    ),
    Endpoint(
        "POST",
        "/paddlex/layout-parsing",
        layout_parsing,
        operation(
            "paddlexLayoutParsing",
            {200: returns(wire.PaddleXLayoutParsingResponse, "Each page's Markdown"), **_errors()},
            description="PaddleX serving's layout-parsing API (PP-StructureV3, PaddleOCR-VL): a PDF or image "
            "(base64 or URL) in, each page's Markdown (the DoclingDocument's Markdown export) out.",
            requestBody=json_body(wire.PaddleXRequest),
        ),
    ),
]
