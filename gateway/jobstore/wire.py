"""OpenAI's Files and Batch API objects (pydantic), shaped exactly as OpenAI's clients parse them."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import Field

from gateway.protocol import ResponseModel, WireModel

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_id(text: str) -> bool:
    """Whether ``text`` can be one of our ids at all (anything else is simply not found, never sent to the database)."""
    return _ID.fullmatch(text) is not None


BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]


MAX_EXPIRY_HOURS = 7 * 24


class FileObject(ResponseModel):
    """OpenAI's file object, with the fields Mistral's SDK requires of its own (``sample_type``, ``source``,
    ``deleted``); clients of either ignore the other's."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    status_details: str | None = None
    sample_type: str
    source: Literal["upload", "mistral"]  # Mistral's names: a client's upload, or a file the service wrote
    deleted: Literal[False] = False

    @classmethod
    def of(cls, id: str, bytes: int, created_at: int, filename: str, purpose: str) -> FileObject:
        """A file's object, its Mistral fields from its purpose (a batch's output is the only file we write)."""
        written = purpose == "batch_output"
        return cls(
            id=id,
            bytes=bytes,
            created_at=created_at,
            filename=filename,
            purpose=purpose,
            sample_type=SAMPLE_TYPES.get(purpose, purpose),
            source="mistral" if written else "upload",
        )


# Mistral's sample types by purpose ("ocr_input" is what its API answers for an OCR upload); others named as such.
SAMPLE_TYPES = {"batch": "batch_request", "batch_output": "batch_result", "ocr": "ocr_input"}


class FileList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(ResponseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: Literal[True] = True


class SignedURLQuery(WireModel):
    """Mistral's ``GET /v1/files/{id}/url``: how many hours the URL works (Mistral's default, 24)."""

    expiry: Annotated[float, Field(gt=0, le=MAX_EXPIRY_HOURS)] = 24


class SignedURL(ResponseModel):
    url: str


class FileListQuery(WireModel):
    purpose: str | None = Field(default=None, pattern=r"^[a-z_-]{1,32}$")
    limit: Annotated[int, Field(ge=1, le=10_000)] = 10_000
    after: str | None = None
    order: Literal["asc", "desc"] = "desc"


Metadata = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]], Field(max_length=16)
]


class BatchCreate(WireModel):
    """``POST /v1/batches``: only chat completions are served here, within OpenAI's one window."""

    input_file_id: str = Field(min_length=1, max_length=64)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"]
    metadata: Metadata | None = None


class BatchListQuery(WireModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: str | None = None


class RequestCounts(ResponseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchError(ResponseModel):
    code: str
    message: str
    param: str | None = None
    line: int | None = None


class BatchErrors(ResponseModel):
    object: Literal["list"] = "list"
    data: list[BatchError]


class Batch(ResponseModel):
    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts
    metadata: dict[str, str] | None = None


class BatchList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[Batch]
    first_id: str | None
    last_id: str | None
    has_more: bool


def new_request_id() -> str:
    return f"batch_req_{secrets.token_hex(12)}"


def output_line(request_id: str, custom_id: str | None, status_code: int, body: dict[str, Any], call_id: str) -> dict:
    """One line of the output (200) or error file (other statuses), in OpenAI's shape."""
    return {
        "id": request_id,
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": call_id, "body": body},
        "error": None,
    }


def error_line(request_id: str, custom_id: str | None, code: str, message: str) -> dict:
    """A request that got no HTTP response at all (invalid line, batch expired or cancelled)."""
    return {"id": request_id, "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}
