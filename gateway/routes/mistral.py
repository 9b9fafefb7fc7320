"""``POST /v1/ocr``: Mistral's OCR API (``gateway/mistral/``). Its files are ``/v1/files`` with ``purpose=ocr`` and
their signed URLs (``gateway/routes/files.py``).

curl -H "Content-Type: application/json" http://127.0.0.1:8000/v1/ocr \\
  -d '{"model": "any", "document": {"type": "document_url", "document_url": "data:application/pdf;base64,…"}}'
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway import edge
from gateway.deadline import within_deadline
from gateway.jobstore.files import kept_files
from gateway.middleware.auth import key_owner
from gateway.mistral.service import MistralOcr
from gateway.mistral.wire import MistralOcrRequest, MistralOcrResponse
from gateway.openapi import Endpoint, errors, json_body, operation, returns


async def mistral_ocr(request: Request) -> Response:
    edge.require_ready(request)
    deadline = edge.start_deadline(request)  # finding and decoding the document counts too
    asked = edge.parse(MistralOcrRequest, await edge.read_json(request))
    service: MistralOcr = request.app.state.mistral_ocr
    upload = await within_deadline(
        deadline, service.fetch(asked.document, key_owner(request.scope), kept_files(request.app.state))
    )
    document = await within_deadline(deadline, service.load(upload, asked.pages))
    report = edge.log_fields(request)
    return await edge.answer(
        request,
        lambda ticket: edge.as_json(service.read(document, upload, report, at_once=ticket.slots)),
        slots=len(document.pages),  # every page takes an engine slot; all are admitted before any runs
        deadline=deadline,
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/ocr",
        mistral_ocr,
        operation(
            "mistralOcr",
            {
                200: returns(MistralOcrResponse, "Each page's Markdown"),
                **errors(400, 401, 404, 413, 415, 429, 503, 504),
            },
            description="Mistral's OCR API: a PDF or image (data: URL, signed or outside URL, or an uploaded "
            "purpose=ocr file) in, each page's Markdown (the DoclingDocument's Markdown export) out.",
            requestBody=json_body(MistralOcrRequest),
        ),
    )
]
