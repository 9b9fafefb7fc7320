"""PaddleOCR's official jobs API under ``/api/v2/ocr/jobs`` (``gateway/paddlex/jobs.py``): ``PaddleOCRClient`` and
``langchain-paddleocr``'s ``PaddleOCRVLLoader`` take ``http://host:8000`` as their ``base_url``. Answers and errors
come in the API's envelope, ``{code, msg, data}``; the key comes as ``Authorization: Bearer <key>``. Served with the
job store (``--batch-api``, the default), which keeps the results and signs their URLs.

curl -H "Authorization: Bearer $KEY" -F file=@scan.pdf -F model=PaddleOCR-VL-1.6 http://127.0.0.1:8000/api/v2/ocr/jobs
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import edge
from gateway.errors import InvalidRequest
from gateway.middleware.auth import key_owner
from gateway.openapi import BINARY, Endpoint, operation, parameter, query_fields, returns
from gateway.paddlex import jobs_wire as wire
from gateway.paddlex.jobs import PaddleOcrJobs, Source

STATUSES = (400, 401, 404, 408, 413, 415, 429, 500, 503)


def _envelope(status: int, message: str, headers: Mapping[str, str] | None) -> JSONResponse:
    body = wire.JobsError(code=status, msg=message)
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


# Errors in the API's envelope, ``{code, msg}``; a request it cannot take is a 400, which PaddleOCR's client reports
# as ``InvalidRequestError``.
envelope_errors = edge.shaped_errors(_envelope)


@envelope_errors
async def submit(request: Request) -> Response:
    edge.require_ready(request)
    jobs: PaddleOcrJobs = request.app.state.paddleocr_jobs
    model, source = await _read_submission(request)
    owner = key_owner(request.scope)
    job_id = await jobs.submit(owner, model, source, request.app.state.jobs.files, str(request.base_url))
    return JSONResponse(wire.JobCreatedResponse(data=wire.JobCreated(jobId=job_id)).model_dump())


@envelope_errors
async def status(request: Request) -> Response:
    jobs: PaddleOcrJobs = request.app.state.paddleocr_jobs
    found = jobs.status(key_owner(request.scope), request.path_params["job_id"])
    return JSONResponse(wire.JobStatusResponse(data=found).model_dump())


async def _read_submission(request: Request) -> tuple[str, Source]:
    """The model and the file: multipart ``file`` with form fields, or JSON with ``fileUrl``."""
    asked, source = await _read_source(request)
    if asked.pageRanges is not None:
        raise InvalidRequest(
            "pageRanges is not supported: send the pages to read as their own file.", param="pageRanges"
        )
    return asked.model, source


async def _read_source(request: Request) -> tuple[wire.JobOptions, Source]:
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        asked = edge.parse(wire.JobUrlRequest, await edge.read_json(request))
        if not asked.fileUrl.startswith(("http://", "https://")):
            raise InvalidRequest("fileUrl must be an http(s) URL.", param="fileUrl")
        return asked, Source(url=asked.fileUrl)
    uploads, fields = await edge.read_uploads(request, max_files=1)
    options = edge.parse(wire.JobOptions, _form_options(dict(fields)))
    if len(uploads) != 1 or not uploads[0].data:
        raise InvalidRequest("Send the document as the multipart 'file', or JSON with 'fileUrl'.", param="file")
    return options, Source(data=uploads[0].data)


def _form_options(fields: dict[str, str]) -> dict[str, Any]:
    """Form fields as the JSON body's: ``optionalPayload`` comes JSON-encoded."""
    options: dict[str, Any] = dict(fields)
    if "optionalPayload" in fields:
        try:
            options["optionalPayload"] = json.loads(fields["optionalPayload"])
        except json.JSONDecodeError:
            raise InvalidRequest("optionalPayload is not JSON.", param="optionalPayload") from None
    return options


def _errors() -> dict[int, object]:
    return {
        status: returns(wire.JobsError, "The jobs API's error envelope, code the HTTP status") for status in STATUSES
    }


def _form_schema() -> dict[str, Any]:
    fields = query_fields(wire.JobOptions)
    fields["optionalPayload"] = {"type": "string", "description": "JSON object"}
    properties = {"file": BINARY, **{name: fields[name] for name in ("model", "optionalPayload", "batchId")}}
    return {"type": "object", "properties": properties, "required": ["file", "model"]}


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v2/ocr/jobs",
        submit,
        operation(
            "paddleocrSubmitJob",
            {200: returns(wire.JobCreatedResponse, "The new job's id"), **_errors()},
            description="PaddleOCR's jobs API: a PDF or image (multipart file, or JSON fileUrl) in, a job id out; "
            "poll GET /api/v2/ocr/jobs/{job_id} until done, then download data.resultUrl.jsonUrl (JSONL, one page a "
            "line). OCR models (PP-OCRv*) answer text lines with boxes; the others each page's Markdown.",
            requestBody={
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": _form_schema()},
                    "application/json": {"schema": wire.JobUrlRequest},
                },
            },
        ),
    ),
    Endpoint(
        "GET",
        "/api/v2/ocr/jobs/{job_id}",
        status,
        operation(
            "paddleocrJobStatus",
            {200: returns(wire.JobStatusResponse, "The job's state, and its result's URL once done"), **_errors()},
            description="A job's state (pending, running, done, failed), progress, error, and once done the signed "
            "URL of its JSONL result (no key needed to download it).",
            parameters=[parameter("job_id", "path", {"type": "string"})],
        ),
    ),
]
