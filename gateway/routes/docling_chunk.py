"""docling-serve's chunk API: ``POST /v1/chunk/{hierarchical|hybrid}/{source|file}`` and their ``/async`` forms
(whose tasks are polled and fetched on ``/v1/status/poll/{task_id}`` and ``/v1/result/{task_id}``, with the
conversions'), and its ``POST /v1/convert/source/batch``, refused in words its clients can show.

Requests and answers are docling-serve's: a JSON ``GenericChunkDocumentsRequest`` (``convert_options``,
``sources``, ``chunking_options``, ``include_converted_doc``, ``target``) or a form with ``files``, ``convert_*``
and ``chunking_*`` fields; a ``ChunkDocumentResponse`` back. A chunker name it does not have is its 404, the hybrid
chunker without its tokenizer on this machine a 422 that says why (``chunking.HYBRID_REFUSAL``), a bad option a
422, each as ``{"detail": …}``.

curl -F files=@scan.pdf http://127.0.0.1:8000/v1/chunk/hierarchical/file
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import edge
from gateway.admission import Ticket
from gateway.deadline import within_deadline
from gateway.docling_serve import wire
from gateway.docling_serve.chunking import PRESIGNED_CHUNK_REFUSAL, chunk_sources, require_chunker, respond_chunks
from gateway.docling_serve.http import (
    LIST_OPTIONS,
    SYNC_ERRORS,
    ZIP_HEADERS,
    detail_errors,
    docling_converter,
    error_responses,
    form_body,
    read_form_uploads,
    require_files,
)
from gateway.docling_serve.service import page_count
from gateway.docling_serve.tasks import ConvertTaskStore, TaskRequest
from gateway.errors import InvalidRequest, NotFound
from gateway.middleware.auth import key_owner
from gateway.ocr import Upload
from gateway.openapi import BINARY, Endpoint, json_body, operation, parameter, query_fields, returns

CONVERT_PREFIX, CHUNKING_PREFIX = "convert_", "chunking_"  # the chunk form's fields, as docling-serve names them
BATCH_REFUSAL = (
    "Batch conversion writes its results to storage (S3, Azure Blob, Google Cloud Storage, Google Drive) or to "
    "presigned URLs, and this server has none: convert with /v1/convert/source/async, whose result comes in the body."
)


@detail_errors
async def chunk_source(request: Request) -> Response:
    asked, job = await _read_sources(request)
    edge.require_ready(request)
    deadline = edge.start_deadline(request)
    uploads = await within_deadline(deadline, docling_converter(request).fetch_sources(asked))
    return await _chunk(request, uploads, asked.convert_options, job, asked.target, deadline)


@detail_errors
async def chunk_file(request: Request) -> Response:
    uploads, options, job, target = await _read_form(request)
    edge.require_ready(request)
    return await _chunk(request, uploads, options, job, target, edge.start_deadline(request))


@detail_errors
async def chunk_source_async(request: Request) -> Response:
    asked, job = await _read_sources(request)
    # URLs are fetched now, so a refused or broken one is this request's 4xx rather than a failed task.
    uploads = await within_deadline(edge.start_deadline(request), docling_converter(request).fetch_sources(asked))
    return await _submit(request, TaskRequest(asked.convert_options, asked.target, uploads, job))


@detail_errors
async def chunk_file_async(request: Request) -> Response:
    uploads, options, job, target = await _read_form(request)
    return await _submit(request, TaskRequest(options, target, uploads, job))


@detail_errors
async def convert_source_batch(request: Request) -> Response:
    """docling-serve's batch route writes to storage targets only: refused, presigned URLs in its own words."""
    body = await edge.read_json(request)
    asked = body if isinstance(body, dict) else {}
    targets = [asked.get("target"), *(asked.get("targets") or [])]
    if any(isinstance(target, dict) and target.get("kind") == "presigned_url" for target in targets):
        raise InvalidRequest(wire.PRESIGNED_REFUSAL, param="target")
    raise InvalidRequest(BATCH_REFUSAL, param="target")


async def _chunk(
    request: Request,
    uploads: list[Upload],
    options: wire.ConvertOptions,
    job: wire.ChunkJob,
    target: wire.Target,
    deadline: float,
) -> Response:
    converter = docling_converter(request)
    require_files(uploads, request.app.state.ocr.max_pages)
    sources = await within_deadline(deadline, converter.load(uploads, options))
    if all(source.failed for source in sources):
        failed = sources[0].failed
        assert failed is not None
        raise failed  # nothing to chunk: the request's own 4xx
    report = edge.log_fields(request)

    async def work(ticket: Ticket) -> Response:
        chunked = await chunk_sources(converter, sources, options, job, report, at_once=ticket.slots)
        body, media_type = respond_chunks(chunked, target)
        return Response(body, media_type=media_type, headers=ZIP_HEADERS if media_type == "application/zip" else None)

    return await edge.answer(request, work, slots=page_count(sources), deadline=deadline)


async def _submit(request: Request, task: TaskRequest) -> Response:
    require_files(task.uploads, request.app.state.ocr.max_pages)
    store: ConvertTaskStore = request.app.state.convert_tasks
    status = await store.create(key_owner(request.scope), task)
    request.app.state.convert_worker.wake()
    return JSONResponse(status.model_dump(mode="json"))


def _chunker(request: Request) -> str:
    """The chunker the path names; another name is docling-serve's 404 (it has a route per chunker)."""
    name = str(request.path_params["chunker"])
    if name not in wire.CHUNK_REQUESTS:
        raise NotFound("Not Found", param="chunker")
    return name


async def _read_sources(request: Request) -> tuple[wire.ChunkSourcesRequest, wire.ChunkJob]:
    """The JSON body of the chunk source routes, its sources counted against the file limit before any is fetched."""
    chunker = _chunker(request)
    body = await edge.read_json(request)
    target = body.get("target") if isinstance(body, dict) else None
    _refuse_presigned(target.get("kind") if isinstance(target, dict) else None)
    asked = edge.parse(wire.CHUNK_REQUESTS[chunker], body)
    job = wire.ChunkJob(chunking_options=asked.chunking_options, include_converted_doc=asked.include_converted_doc)
    await require_chunker(job)
    count, most = len(asked.sources), request.app.state.ocr.max_pages
    if count > most:
        raise InvalidRequest(f"Too many sources: {count} exceeds the maximum of {most}.", param="sources")
    return asked, job


async def _read_form(request: Request) -> tuple[list[Upload], wire.ConvertOptions, wire.ChunkJob, wire.Target]:
    """Files, ``convert_*`` options and ``chunking_*`` options from a multipart form (list options repeated,
    JSON-encoded or comma-separated, as on ``/v1/convert/file``)."""
    chunker = _chunker(request)
    uploads, fields = await read_form_uploads(request)
    converting, chunking, rest = _form_groups(fields)
    kind = rest.get("target_type", "inbody")
    _refuse_presigned(kind)
    target = edge.parse(wire.Target, {"kind": kind})
    options = edge.parse(wire.ConvertOptions, converting)
    chunker_options = edge.parse(wire.CHUNKER_OPTIONS[chunker], {**chunking, "chunker": chunker})
    include = edge.parse(_Included, {"include_converted_doc": rest.get("include_converted_doc", False)})
    job = wire.ChunkJob(chunking_options=chunker_options, include_converted_doc=include.include_converted_doc)
    await require_chunker(job)
    return uploads, options, job, target


class _Included(BaseModel):
    include_converted_doc: bool = False  # a form's "true" / "false" read as pydantic reads a bool


def _form_groups(fields: list[tuple[str, str]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The form's ``convert_*`` options (prefix off, list options gathered), ``chunking_*`` options, and the rest."""
    converting: dict[str, Any] = {}
    chunking: dict[str, Any] = {}
    rest: dict[str, str] = {}
    for key, value in fields:
        if value == "":
            continue
        if key.startswith(CONVERT_PREFIX) and key[len(CONVERT_PREFIX) :] in LIST_OPTIONS:
            converting.setdefault(key[len(CONVERT_PREFIX) :], []).append(value)
        elif key.startswith(CONVERT_PREFIX):
            converting[key[len(CONVERT_PREFIX) :]] = value
        elif key.startswith(CHUNKING_PREFIX):
            chunking[key[len(CHUNKING_PREFIX) :]] = value
        else:
            rest[key] = value
    return converting, chunking, rest


def _refuse_presigned(kind: object) -> None:
    if kind == "presigned_url":
        raise InvalidRequest(PRESIGNED_CHUNK_REFUSAL, param="target")


def _prefixed(prefix: str, model: type[BaseModel], leave: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f"{prefix}{name}": schema for name, schema in query_fields(model).items() if name not in leave}


CHUNKER = parameter("chunker", "path", {"type": "string", "enum": list(wire.CHUNK_REQUESTS)}, required=True)
CHUNKED = {
    "description": "The chunks and their documents (JSON), or a zip of chunked_result.json for a zip target",
    "content": {"application/json": {"schema": wire.ChunkDocumentResponse}, "application/zip": {"schema": BINARY}},
}
FORM = form_body(
    include_converted_doc={"type": "boolean"},
    **_prefixed(CONVERT_PREFIX, wire.ConvertOptions, leave=("to_formats",)),
    **_prefixed(CHUNKING_PREFIX, wire.HybridChunkerOptions, leave=("chunker",)),
)
QUEUED = returns(wire.TaskStatusResponse, "The chunk task, queued")
CHUNK_BODY = json_body(wire.HierarchicalChunkRequest)


def _chunk_operation(operation_id: str, responses: dict[int, Any], body: dict[str, Any]) -> dict[str, Any]:
    return operation(operation_id, responses, tags=["docling"], parameters=[CHUNKER], requestBody=body)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/chunk/{chunker}/source",
        chunk_source,
        _chunk_operation("chunkSource", {200: CHUNKED, **SYNC_ERRORS}, CHUNK_BODY),
    ),
    Endpoint(
        "POST",
        "/v1/chunk/{chunker}/file",
        chunk_file,
        _chunk_operation("chunkFile", {200: CHUNKED, **SYNC_ERRORS}, FORM),
    ),
    Endpoint(
        "POST",
        "/v1/convert/source/batch",
        convert_source_batch,
        operation(
            "convertSourceBatch",
            error_responses(401, 422),
            tags=["docling"],
            description="docling-serve's batch conversion to storage targets: refused (this server has no storage).",
        ),
    ),
]
# Served with the job store (where tasks are kept), as docling's other async routes.
TASK_ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/chunk/{chunker}/source/async",
        chunk_source_async,
        _chunk_operation("chunkSourceAsync", {200: QUEUED, **error_responses(401, 404, 413, 422)}, CHUNK_BODY),
    ),
    Endpoint(
        "POST",
        "/v1/chunk/{chunker}/file/async",
        chunk_file_async,
        _chunk_operation("chunkFileAsync", {200: QUEUED, **error_responses(401, 404, 413, 415, 422)}, FORM),
    ),
]
