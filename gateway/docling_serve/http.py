"""docling-serve's HTTP conventions, shared by its convert routes (``gateway/routes/docling.py``) and its chunk
routes (``gateway/routes/docling_chunk.py``): errors as FastAPI gives them, ``{"detail": message}`` with 422 for a
request it cannot take, and the limits and names of its forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import edge
from gateway.docling_serve import wire
from gateway.docling_serve.service import DoclingConverter
from gateway.errors import InvalidRequest
from gateway.ocr import Upload
from gateway.openapi import BINARY, returns

MAX_FORM_FIELDS = 256  # docling-serve has ~60 options, lists repeat, and DOCLING_PARAMS adds the admin's own
LIST_OPTIONS = frozenset({"from_formats", "to_formats", "page_range", "ocr_lang"})
ZIP_HEADERS = {"Content-Disposition": 'attachment; filename="converted_docs.zip"'}


def _detail(status: int, message: str, headers: Mapping[str, str] | None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


detail_errors = edge.shaped_errors(_detail, unprocessable=True)


def docling_converter(request: Request) -> DoclingConverter:
    docling: DoclingConverter = request.app.state.docling
    return docling


async def read_form_uploads(request: Request) -> tuple[list[Upload], list[tuple[str, str]]]:
    """A multipart form's files and fields, at most ``--max-pdf-pages`` files and ``MAX_FORM_FIELDS`` fields."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest("Send the documents as multipart/form-data 'files'.", param="files")
    max_files = request.app.state.ocr.max_pages
    return await edge.read_uploads(request, max_files=max_files, max_fields=MAX_FORM_FIELDS)


def require_files(uploads: list[Upload], most: int) -> None:
    if not uploads:
        raise InvalidRequest("Send the documents as multipart 'files' (or as sources).", param="files")
    if len(uploads) > most:
        raise InvalidRequest(f"Too many files: {len(uploads)} exceeds the maximum of {most}.", param="files")


def error_responses(*statuses: int) -> dict[int, Any]:
    """OpenAPI responses for ``statuses`` in docling-serve's error shape."""
    return {status: returns(wire.DetailError, 'docling-serve\'s error: {"detail": …}') for status in statuses}


SYNC_ERRORS = error_responses(401, 404, 413, 415, 422, 429, 500, 503, 504)


def form_body(**fields: Any) -> dict[str, Any]:
    """The OpenAPI request body of a docling-serve form: ``files``, ``target_type`` and ``fields``."""
    properties = {
        "files": {"type": "array", "items": BINARY},
        "target_type": {"type": "string", "enum": ["inbody", "zip"]},
    }
    schema = {"type": "object", "required": ["files"], "properties": {**properties, **fields}}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
