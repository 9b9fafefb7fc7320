"""``POST /ocr``: an image or PDF as the raw body, or multipart files; options in the query or the form.

curl --data-binary @scan.jpg http://127.0.0.1:8000/ocr
curl -F file=@a.pdf -F file=@b.png -F task=table http://127.0.0.1:8000/ocr
curl -N --data-binary @doc.pdf -H "Content-Type: application/pdf" "http://127.0.0.1:8000/ocr?stream=sse"
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.datastructures import MultiDict, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive

from gateway.deadline import until_deadline, within_deadline
from gateway.disconnect import ClientDisconnected, unless_disconnected
from gateway.errors import EngineUnavailable, RequestTimeout, UnsupportedMediaType, from_validation_error
from gateway.ocr import OcrOptions, OcrService, Upload
from gateway.routes.chat import CLIENT_CLOSED_REQUEST, read_body
from gateway.streaming import SEND_TIMEOUT, NDJSONResponse

# Bodies that say nothing about their type (curl --data-binary sends form-urlencoded): the bytes decide.
UNDECLARED = ("", "application/octet-stream", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 32
T = TypeVar("T")


async def ocr(request: Request) -> Response:
    if request.app.state.lifecycle.state != "ready":
        raise EngineUnavailable("The model is still loading; retry shortly.", headers={"Retry-After": "5"})
    service: OcrService = request.app.state.ocr
    uploads, form_fields = await read_uploads(request, max_files=service.max_pages)
    options = parse_options(MultiDict([*request.query_params.multi_items(), *form_fields]))
    report: dict[str, Any] = request.scope.get("state", {}).get("log", {})
    deadline = asyncio.get_running_loop().time() + request.app.state.settings.request_timeout
    try:
        if options.stream:
            events = service.stream(uploads, options, report)
            # Bad files are refused with an HTTP error: the stream starts once every file is decoded.
            first = await unless_disconnected(request, within_deadline(deadline, anext(events)))
            grace = request.app.state.settings.shutdown_timeout
            return _stream_response(options.stream, first, events, deadline, grace)
        response = await unless_disconnected(
            request, within_deadline(deadline, service.recognize(uploads, options, report))
        )
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return JSONResponse(response.model_dump())


async def read_uploads(request: Request, *, max_files: int) -> tuple[list[Upload], list[tuple[str, str]]]:
    """The uploaded files and the form's other fields; the body is bounded by ``--max-body-mb`` as in chat."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    if mime == "multipart/form-data":
        form = await Request(request.scope, _replay(body)).form(max_files=max_files, max_fields=MAX_FORM_FIELDS)
        try:
            files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
            fields = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
            uploads = [Upload(file.filename, _declared(file.content_type), await file.read()) for file in files]
        finally:
            await form.close()
        return uploads, fields
    if mime.startswith("image/") or mime == "application/pdf" or mime in UNDECLARED:
        return ([Upload(None, _declared(mime), body)] if body else []), []
    raise UnsupportedMediaType(
        f"Unsupported Content-Type {mime}: send the image or PDF itself (image/*, application/pdf) "
        "or multipart/form-data files."
    )


def parse_options(values: MultiDict) -> OcrOptions:
    """Query and form fields (the form's win); ``fields`` may repeat."""
    options: dict[str, Any] = {}
    for key in values:
        if key == "fields":
            options[key] = values.getlist(key)
        elif (value := values.getlist(key)[-1]) != "":  # an empty field means "not set", as HTML forms send it
            options[key] = value
    try:
        return OcrOptions.model_validate(options)
    except ValidationError as error:
        raise from_validation_error(error) from None


def _declared(mime: str | None) -> str:
    mime = (mime or "").split(";")[0].strip().lower()
    return "application/octet-stream" if mime in UNDECLARED else mime


def _replay(body: bytes) -> Receive:
    """An ASGI ``receive`` that hands over a body already read (and size-checked)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _ndjson_line(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False) + "\n"


def _sse_event(event: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(event, ensure_ascii=False))


def _stream_response(
    mode: str, first: dict[str, Any], rest: AsyncGenerator[dict[str, Any], None], deadline: float, shutdown_grace: float
) -> Response:
    if mode == "sse":
        # As chat's streams: a client that stops reading loses its stream; on shutdown it gets time to finish.
        return EventSourceResponse(
            _events(first, rest, deadline, _sse_event),
            ping=15,
            send_timeout=SEND_TIMEOUT,
            shutdown_grace_period=shutdown_grace,
        )
    return NDJSONResponse(_events(first, rest, deadline, _ndjson_line))


async def _events(
    first: dict[str, Any], rest: AsyncGenerator[dict[str, Any], None], deadline: float, render: Callable[[Any], T]
) -> AsyncIterator[T]:
    # Closing this generator (client gone, server stopping) closes `rest`, which cancels the pages' engine work.
    async with aclosing(rest):
        yield render(first)
        try:
            async for event in until_deadline(rest, deadline):
                yield render(event)
        except RequestTimeout as timeout:
            yield render({"type": "error", **timeout.body().model_dump()})
