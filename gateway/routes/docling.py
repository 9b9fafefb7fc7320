"""docling-serve's v1 convert API: ``/v1/convert/file``, ``/v1/convert/source`` and their ``/async`` forms,
``/v1/status/poll/{task_id}`` (and its websocket, ``/v1/status/ws/{task_id}``) and ``/v1/result/{task_id}`` —
so Open WebUI's Docling extraction engine, docling's own service client and anything else written for docling-serve
read scans with HunyuanOCR. Errors come in docling-serve's shape, ``{"detail": …}``, with its 422 for a request it
cannot take; the key may come as ``X-Api-Key`` (its header).

curl -F files=@scan.pdf -F to_formats=md -F to_formats=json http://127.0.0.1:8000/v1/convert/file
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway import edge
from gateway.admission import Ticket
from gateway.deadline import within_deadline
from gateway.docling_serve import wire
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
from gateway.docling_serve.service import page_count, respond
from gateway.docling_serve.tasks import FINISHED, ConvertTaskStore, TaskRequest
from gateway.errors import InvalidRequest, NotFound
from gateway.middleware.auth import key_owner
from gateway.ocr import Upload
from gateway.openapi import BINARY, Endpoint, json_body, operation, parameter, query_fields, returns

STATUS_HEARTBEAT = 10.0  # an unchanged status is sent again after this long, so no proxy cuts a quiet socket


@detail_errors
async def convert_file(request: Request) -> Response:
    edge.require_ready(request)
    deadline = edge.start_deadline(request)
    uploads, options, target = await _read_form(request)
    return await _convert(request, uploads, options, target, deadline)


@detail_errors
async def convert_source(request: Request) -> Response:
    edge.require_ready(request)
    deadline = edge.start_deadline(request)
    asked = await _read_sources(request)
    uploads = await within_deadline(deadline, docling_converter(request).fetch_sources(asked))
    return await _convert(request, uploads, asked.options, asked.target, deadline)


@detail_errors
async def convert_file_async(request: Request) -> Response:
    uploads, options, target = await _read_form(request)
    return await _submit(request, TaskRequest(options, target, uploads))


@detail_errors
async def convert_source_async(request: Request) -> Response:
    deadline = edge.start_deadline(request)
    asked = await _read_sources(request)
    # URLs are fetched now, so a refused or broken one is this request's 4xx rather than a failed task.
    uploads = await within_deadline(deadline, docling_converter(request).fetch_sources(asked))
    return await _submit(request, TaskRequest(asked.options, asked.target, uploads))


@detail_errors
async def poll_status(request: Request) -> Response:
    wait = _wait_seconds(request)
    owner, task_id = key_owner(request.scope), request.path_params["task_id"]
    status = await _tasks(request).wait(owner, task_id, wait)
    return JSONResponse(status.model_dump(mode="json"))


async def watch_status(websocket: WebSocket) -> None:
    """docling-serve's ``WS /v1/status/ws/{task_id}``: a ``connection`` message, then an ``update`` per message the
    client sends (docling's client sends "next" after each), each once the status has moved or ``STATUS_HEARTBEAT``
    seconds have passed; closed after the update that finishes the task. The key is checked before the handshake
    (``APIKeyMiddleware``: ``?api_key=``, as docling-serve takes it, or a header)."""
    store: ConvertTaskStore = websocket.app.state.convert_tasks
    owner, task_id = key_owner(websocket.scope), websocket.path_params["task_id"]
    await websocket.accept()
    try:
        status = await store.status(owner, task_id)
        await websocket.send_text(wire.WebsocketMessage(message="connection", task=status).model_dump_json())
        while True:
            await websocket.send_text(wire.WebsocketMessage(message="update", task=status).model_dump_json())
            if status.task_status in FINISHED:
                break
            await websocket.receive_text()
            status = await store.wait(owner, task_id, STATUS_HEARTBEAT, since=status)
    except NotFound as missing:  # never there, or swept while watched
        await websocket.send_text(wire.WebsocketMessage(message="error", error=missing.message).model_dump_json())
    except WebSocketDisconnect:
        return
    await websocket.close()


@detail_errors
async def task_result(request: Request) -> Response:
    body, media_type = await _tasks(request).result(key_owner(request.scope), request.path_params["task_id"])
    return Response(body, media_type=media_type, headers=ZIP_HEADERS if media_type == "application/zip" else None)


async def _convert(
    request: Request, uploads: list[Upload], options: wire.ConvertOptions, target: wire.Target, deadline: float
) -> Response:
    converter = docling_converter(request)
    require_files(uploads, request.app.state.ocr.max_pages)
    sources = await within_deadline(deadline, converter.load(uploads, options))
    if all(source.failed for source in sources):
        failed = sources[0].failed
        assert failed is not None
        raise failed  # nothing to convert: the request's own 4xx
    report = edge.log_fields(request)

    async def work(ticket: Ticket) -> Response:
        converted = await converter.convert(sources, options, report, at_once=ticket.slots)
        body, media_type = respond(converted, options, target)
        return Response(body, media_type=media_type, headers=ZIP_HEADERS if media_type == "application/zip" else None)

    return await edge.answer(request, work, slots=page_count(sources), deadline=deadline)


async def _submit(request: Request, task: TaskRequest) -> Response:
    require_files(task.uploads, request.app.state.ocr.max_pages)
    status = await _tasks(request).create(key_owner(request.scope), task)
    request.app.state.convert_worker.wake()
    return JSONResponse(status.model_dump(mode="json"))


async def _read_form(request: Request) -> tuple[list[Upload], wire.ConvertOptions, wire.Target]:
    """Files and options from a multipart form: list options repeated, JSON-encoded or comma-separated."""
    uploads, fields = await read_form_uploads(request)
    values: dict[str, Any] = {}
    for key, value in fields:
        if value == "":
            continue
        if key in LIST_OPTIONS:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    kind = values.pop("target_type", "inbody")
    _refuse_presigned(kind)
    target = edge.parse(wire.Target, {"kind": kind})
    return uploads, edge.parse(wire.ConvertOptions, values), target


async def _read_sources(request: Request) -> wire.ConvertSourcesRequest:
    """The JSON body of the source routes, its sources counted against the file limit before any is fetched."""
    body = await edge.read_json(request)
    target = body.get("target") if isinstance(body, dict) else None
    _refuse_presigned(target.get("kind") if isinstance(target, dict) else None)
    asked = edge.parse(wire.ConvertSourcesRequest, body)
    count, most = len(asked.all_sources()), request.app.state.ocr.max_pages
    if count > most:
        # The limit is a setting (--max-pdf-pages), so it is checked here rather than written into the schema.
        message = f"sources: {count} given (sources, file_sources and http_sources together); at most {most}."
        raise InvalidRequest(message, param="sources")
    return asked


def _refuse_presigned(kind: object) -> None:
    """docling-serve's own 422 for a server without artifact storage, which docling's client falls back from."""
    if kind == "presigned_url":
        raise InvalidRequest(wire.PRESIGNED_REFUSAL, param="target")


def _wait_seconds(request: Request) -> float:
    raw = request.query_params.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise InvalidRequest("wait must be a number of seconds.", param="wait") from None
    if not 0 <= wait < float("inf"):
        raise InvalidRequest("wait must be a number of seconds.", param="wait")
    return min(wait, request.app.state.settings.request_timeout)


def _tasks(request: Request) -> ConvertTaskStore:
    store: ConvertTaskStore = request.app.state.convert_tasks
    return store


CONVERTED = {
    "description": "One document (JSON), or a zip of every document's files for several sources or a zip target",
    "content": {"application/json": {"schema": wire.ConvertDocumentResponse}, "application/zip": {"schema": BINARY}},
}
FORM = form_body(**query_fields(wire.ConvertOptions))
TASK_ID = parameter("task_id", "path", {"type": "string"})
QUEUED = returns(wire.TaskStatusResponse, "The task, queued")

ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/convert/file",
        convert_file,
        operation("convertFile", {200: CONVERTED, **SYNC_ERRORS}, tags=["docling"], requestBody=FORM),
    ),
    Endpoint(
        "POST",
        "/v1/convert/source",
        convert_source,
        operation(
            "convertSource",
            {200: CONVERTED, **SYNC_ERRORS},
            tags=["docling"],
            requestBody=json_body(wire.ConvertSourcesRequest),
        ),
    ),
]
# Served with the job store (where tasks are kept), as the Files and Batch APIs.
TASK_ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/convert/file/async",
        convert_file_async,
        operation(
            "convertFileAsync", {200: QUEUED, **error_responses(401, 413, 415, 422)}, tags=["docling"], requestBody=FORM
        ),
    ),
    Endpoint(
        "POST",
        "/v1/convert/source/async",
        convert_source_async,
        operation(
            "convertSourceAsync",
            {200: QUEUED, **error_responses(401, 413, 422)},
            tags=["docling"],
            requestBody=json_body(wire.ConvertSourcesRequest),
        ),
    ),
    Endpoint(
        "GET",
        "/v1/status/poll/{task_id}",
        poll_status,
        operation(
            "pollTaskStatus",
            {200: returns(wire.TaskStatusResponse, "Where the task stands"), **error_responses(401, 404, 422)},
            tags=["docling"],
            parameters=[TASK_ID, parameter("wait", "query", {"type": "number", "minimum": 0})],
        ),
    ),
    Endpoint(
        "GET",
        "/v1/result/{task_id}",
        task_result,
        operation(
            "taskResult",
            {200: CONVERTED, **error_responses(401, 404)},
            tags=["docling"],
            description="A finished task's answer, as the synchronous route would have given it; 404 until then.",
            parameters=[TASK_ID],
        ),
    ),
]
# Not HTTP, so not in OpenAPI: served with the task endpoints (gateway/routes/__init__.py).
TASK_WEBSOCKETS = [WebSocketRoute("/v1/status/ws/{task_id}", watch_status)]
