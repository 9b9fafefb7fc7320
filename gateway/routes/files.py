"""``/v1/files``: upload, list, retrieve, download and delete, as OpenAI's Files API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.types import Message, Receive

from gateway.batch.wire import FileDeleted, FileListQuery
from gateway.errors import InvalidRequest, PayloadTooLarge, from_validation_error
from gateway.middleware.auth import key_owner

UPLOAD_PURPOSES = ("batch",)
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the purpose field, beyond the file itself
CHUNK_BYTES = 2**20
M = TypeVar("M", bound=BaseModel)


async def create_file(request: Request) -> JSONResponse:
    limit = request.app.state.settings.batch.max_file_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise _too_large(limit)
    limited = Request(request.scope, _limited(request.receive, limit + FORM_OVERHEAD, limit))
    async with limited.form(max_files=1, max_fields=8) as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("Upload the file as the multipart field 'file'.", param="file")
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(f"purpose must be one of {list(UPLOAD_PURPOSES)}.", param="purpose")
        if (upload.size or 0) > limit:
            raise _too_large(limit)
        await upload.seek(0)
        created = await request.app.state.jobs.files.create(
            key_owner(request.scope), upload.filename or "upload", purpose, _chunks(upload.file)
        )
    return JSONResponse(created.model_dump())


async def list_files(request: Request) -> JSONResponse:
    query = parse_model(FileListQuery, dict(request.query_params))
    return JSONResponse((await request.app.state.jobs.files.page(key_owner(request.scope), query)).model_dump())


async def retrieve_file(request: Request) -> JSONResponse:
    found = await request.app.state.jobs.files.get(key_owner(request.scope), request.path_params["file_id"])
    return JSONResponse(found.model_dump())


async def file_content(request: Request) -> FileResponse:
    jobs = request.app.state.jobs
    found = await jobs.files.get(key_owner(request.scope), request.path_params["file_id"])
    return FileResponse(jobs.files.path(found.id), media_type="application/octet-stream")


async def delete_file(request: Request) -> JSONResponse:
    file_id = request.path_params["file_id"]
    await request.app.state.jobs.files.delete(key_owner(request.scope), file_id)
    return JSONResponse(FileDeleted(id=file_id).model_dump())


def _limited(receive: Receive, max_body: int, limit: int) -> Receive:
    """``receive`` that stops a body (chunked or lying about its length) once it passes ``max_body``."""
    size = 0

    async def limited() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > max_body:
            raise _too_large(limit)
        return message

    return limited


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than the server's limit of {limit} bytes.", param="file")


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def parse_model(model: type[M], data: Any) -> M:
    """A JSON body or query parameters as ``model``; a 400 naming the ``param`` otherwise."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(error) from None
