"""``/v1/files``: upload, list, retrieve, download and delete, as OpenAI's Files API; and a signed download URL,
as Mistral's (``purpose=ocr`` files for ``POST /v1/ocr``, see ``gateway/jobstore/signed_urls.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Message, Receive

from gateway import edge
from gateway.errors import InvalidRequest, NotFound, PayloadTooLarge
from gateway.jobstore.signed_urls import UrlSigner, is_signed
from gateway.jobstore.wire import (
    MAX_EXPIRY_HOURS,
    FileDeleted,
    FileList,
    FileListQuery,
    FileObject,
    SignedURL,
    SignedURLQuery,
)
from gateway.middleware.auth import key_owner
from gateway.openapi import Endpoint, errors, operation, parameter, returns

UPLOAD_PURPOSES = ("batch", "ocr")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the purpose field, beyond the file itself
CHUNK_BYTES = 2**20


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
    query = edge.parse(FileListQuery, dict(request.query_params))
    return JSONResponse((await request.app.state.jobs.files.page(key_owner(request.scope), query)).model_dump())


async def retrieve_file(request: Request) -> JSONResponse:
    found = await request.app.state.jobs.files.get(key_owner(request.scope), request.path_params["file_id"])
    return JSONResponse(found.model_dump())


async def file_content(request: Request) -> Response:
    jobs, file_id = request.app.state.jobs, request.path_params["file_id"]
    if is_signed(request.query_params):  # a signed URL: the signature decides, with or without a key
        _signer(request).check(file_id, request.query_params)
        found = await jobs.files.get_signed(file_id)
    else:
        found = await jobs.files.get(key_owner(request.scope), file_id)
    try:  # streamed: a batch output can run to gigabytes
        chunks = await jobs.files.stream(found.id)
    except FileNotFoundError:  # deleted since its row was read
        raise NotFound(f"No such File object: {file_id}", param="id") from None
    headers = {"Content-Length": str(found.bytes)}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


async def signed_url(request: Request) -> JSONResponse:
    """Mistral's ``GET /v1/files/{id}/url?expiry=<hours>``: a download URL for the key's file that needs no key."""
    query = edge.parse(SignedURLQuery, dict(request.query_params))
    found = await request.app.state.jobs.files.get(key_owner(request.scope), request.path_params["file_id"])
    url = _signer(request).url(str(request.base_url), found.id, query.expiry)
    return JSONResponse(SignedURL(url=url).model_dump())


async def delete_file(request: Request) -> JSONResponse:
    file_id = request.path_params["file_id"]
    await request.app.state.jobs.files.delete(key_owner(request.scope), file_id)
    return JSONResponse(FileDeleted(id=file_id).model_dump())


def _signer(request: Request) -> UrlSigner:
    signer: UrlSigner = request.app.state.url_signer
    return signer


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


FILE_ID = parameter("file_id", "path", {"type": "string"})
UPLOAD = {
    "type": "object",
    "required": ["file", "purpose"],
    "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string"}},
}
LIST_PARAMETERS = [
    parameter("limit", "query", {"type": "integer"}),
    parameter("after", "query", {"type": "string"}),
    parameter("purpose", "query", {"type": "string"}),
    parameter("order", "query", {"type": "string", "enum": ["asc", "desc"]}),
]
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/files",
        create_file,
        operation(
            "createFile",
            {200: returns(FileObject, "The stored file"), **errors(400, 401, 413)},
            requestBody={"required": True, "content": {"multipart/form-data": {"schema": UPLOAD}}},
        ),
    ),
    Endpoint(
        "GET",
        "/v1/files",
        list_files,
        operation(
            "listFiles",
            {200: returns(FileList, "The key's files"), **errors(400, 401, 404)},
            parameters=LIST_PARAMETERS,
        ),
    ),
    Endpoint(
        "GET",
        "/v1/files/{file_id}",
        retrieve_file,
        operation("retrieveFile", {200: returns(FileObject, "The file"), **errors(401, 404)}, parameters=[FILE_ID]),
    ),
    Endpoint(
        "DELETE",
        "/v1/files/{file_id}",
        delete_file,
        operation("deleteFile", {200: returns(FileDeleted, "Deleted"), **errors(401, 404)}, parameters=[FILE_ID]),
    ),
    Endpoint(
        "GET",
        "/v1/files/{file_id}/content",
        file_content,
        operation(
            "downloadFile",
            {
                200: {
                    "description": "The file's bytes",
                    "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                },
                **errors(401, 403, 404),
            },
            parameters=[
                FILE_ID,
                parameter("expires", "query", {"type": "integer"}),
                parameter("signature", "query", {"type": "string"}),
            ],
            description="With the expires and signature of a signed URL (GET /v1/files/{file_id}/url), no API key "
            "is needed; a changed or expired one gets 403.",
        ),
    ),
    Endpoint(
        "GET",
        "/v1/files/{file_id}/url",
        signed_url,
        operation(
            "getSignedUrl",
            {200: returns(SignedURL, "A download URL that needs no API key"), **errors(400, 401, 404)},
            description="Mistral's signed URL for an uploaded file.",
            parameters=[
                FILE_ID,
                parameter("expiry", "query", {"type": "number", "minimum": 0, "maximum": MAX_EXPIRY_HOURS}),
            ],
        ),
    ),
]
