"""PaddleOCR's official jobs API (``POST /api/v2/ocr/jobs``, ``GET /api/v2/ocr/jobs/{jobId}``), as PaddleOCR 3.7's
``PaddleOCRClient`` (``paddleocr/_api_client/``, which ``langchain-paddleocr``'s loader drives) sends and reads it.

A job is submitted as multipart (``file``, ``model``, ``optionalPayload`` as a JSON string) or as JSON (``fileUrl``,
``model``, ``optionalPayload``); the client polls until ``state`` is ``done`` and downloads ``resultUrl.jsonUrl``
without its key (a pre-signed link). Answers come in ``{code: 0, msg, data}``; errors in ``{code, msg}``, ``code``
the HTTP status.

Where we differ on purpose: ``optionalPayload`` (the pipelines' tuning options) is taken and ignored, as one model
reads every page; ``batchId`` is taken and ignored (there is no batch status route); ``pageRanges`` is refused
rather than ignored, as a job that reads other pages than asked would be wrong without saying so.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.protocol import ResponseModel, WireModel

# paddleocr/_api_client/models.py's Model: the OCR models answer ``ocrResults``, the others ``layoutParsingResults``.
PaddleOcrModel = Literal[
    "PP-OCRv5", "PP-OCRv5-latin", "PP-OCRv6", "PP-StructureV3", "PaddleOCR-VL", "PaddleOCR-VL-1.5", "PaddleOCR-VL-1.6"
]
OCR_MODELS = frozenset({"PP-OCRv5", "PP-OCRv5-latin", "PP-OCRv6"})
JobState = Literal["pending", "running", "done", "failed"]


class JobOptions(WireModel):
    """A job's fields besides its file (multipart form fields, or the JSON body's)."""

    model: PaddleOcrModel
    optionalPayload: dict[str, Any] = Field(default_factory=dict)
    pageRanges: str | None = Field(default=None, max_length=256)  # refused when given: see the module's docstring
    batchId: str | None = Field(default=None, max_length=128)


class JobUrlRequest(JobOptions):
    """``POST /api/v2/ocr/jobs`` as JSON: the file at an http(s) URL."""

    fileUrl: str = Field(min_length=1, max_length=8192)


class JobCreated(ResponseModel):
    jobId: str


class ExtractProgress(ResponseModel):
    totalPages: int
    extractedPages: int
    startTime: str | None = None
    endTime: str | None = None


class ResultUrl(ResponseModel):
    jsonUrl: str  # JSONL, one ``{"result": {...}}`` line per page, downloadable without a key until it expires


class JobStatus(ResponseModel):
    jobId: str
    state: JobState
    extractProgress: ExtractProgress | None = None
    resultUrl: ResultUrl | None = None
    errorMsg: str | None = None


class JobCreatedResponse(ResponseModel):
    """The envelope around a new job's id."""

    code: Literal[0] = 0
    msg: Literal["Success"] = "Success"
    data: JobCreated


class JobStatusResponse(ResponseModel):
    """The envelope around a job's state."""

    code: Literal[0] = 0
    msg: Literal["Success"] = "Success"
    data: JobStatus


class JobsError(ResponseModel):
    """The API's error: the envelope without ``data``, ``code`` the HTTP status."""

    code: int
    msg: str
