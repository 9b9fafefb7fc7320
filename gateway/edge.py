"""The request edge: what every route does between the socket and its service.

Read the body within ``--max-body-mb`` (and in time), parse it into a wire
model (a 400 naming the ``param`` otherwise), require a ready engine, take
engine slots from the one admission layer, run the service before the
request's deadline unless the client leaves, and send the answer as JSON or
as a stream. Routes import from here, never from each other.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive

from adapters.errors import EngineFault
from gateway.admission import AdmissionControl, Ticket
from gateway.deadline import within_deadline
from gateway.disconnect import ClientDisconnected, unless_disconnected
from gateway.errors import (
    EngineUnavailable,
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    SlowRequestBody,
    UnsupportedMediaType,
    from_engine_error,
    from_validation_error,
)
from gateway.ocr import Upload
from gateway.streaming import Item, StreamFormat, Transport, stream_response

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
RenderError = Callable[[int, str, Mapping[str, str] | None], Response]  # (status, message, headers) -> response
BODY_READ_TIMEOUT = 60.0
LARGE_BODY = 256 * 1024
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that hung up; never seen by that client
# Bodies that say nothing about their type (curl --data-binary sends form-urlencoded): the bytes decide.
UNDECLARED = ("", "application/octet-stream", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 32


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``--max-body-mb`` (before it is all read)."""
    limit = int(request.app.state.settings.media.max_body_mb * 2**20)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        # A client that trickles its body (slowloris) must not hold a connection for ever.
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    except TimeoutError:
        raise SlowRequestBody(f"The request body did not arrive within {BODY_READ_TIMEOUT:.0f} s.") from None
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    """The JSON body, within the size limit, holding only text that can be encoded (no lone surrogates)."""
    body = await read_body(request)
    try:
        # Bodies with images run to megabytes: parsing them would stall every stream on the event loop.
        data = json.loads(body) if len(body) < LARGE_BODY else await asyncio.to_thread(json.loads, body)
    except ValueError as error:  # malformed JSON, bad UTF-8, integers too long to convert
        raise InvalidRequest(f"The request body is not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None
    if b"\\" in body or b"\xed" in body:
        _refuse_lone_surrogates(data, [])
    return data


# JSON may spell a UTF-16 surrogate as an escape ("\ud800", valid JSON), and Python's parser also takes one
# encoded as UTF-8 bytes (lead byte 0xED). Paired escapes become one character; a lone one cannot be encoded again
# (tokenizer, logs) and used to end in a 500. Only bodies holding a backslash or an 0xED byte are walked, and only
# strings that are not ASCII searched: a regular expression over a 4 MB image body cost 40 ms of the event loop,
# these byte searches 0.2 ms.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(value: Any, path: list[str | int]) -> None:
    if isinstance(value, str):
        if not value.isascii() and _LONE_SURROGATE.search(value):
            raise InvalidRequest(
                "The request holds text with a lone UTF-16 surrogate (such as \\ud800), which is not a character.",
                param=_param(path),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key, path)
            _refuse_lone_surrogates(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_lone_surrogates(item, [*path, index])


def _param(path: list[str | int]) -> str | None:
    """``messages[0].content`` for ``["messages", 0, "content"]``, as validation errors name their param."""
    text = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")
    return text or None


def parse(model: type[M], data: Any) -> M:
    """A JSON body, a query or form fields as ``model``; a 400 naming the ``param`` otherwise."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(error) from None


def require_ready(request: Request) -> None:
    """503 with ``Retry-After`` while the model is still loading."""
    if request.app.state.lifecycle.state != "ready":
        raise EngineUnavailable("The model is still loading; retry shortly.", headers={"Retry-After": "5"})


def shaped_errors(render: RenderError, *, unprocessable: bool = False) -> Callable[[Handler], Handler]:
    """A decorator answering a handler's errors with ``render(status, message, headers)``, for APIs with their own
    error shape: the gateway's errors, the engine's (translated), and Starlette's own (e.g. the form parser's "Too
    many files"). ``unprocessable``: a request the API cannot take is a 422 rather than a 400, as FastAPI's are."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except (GatewayError, EngineFault) as caught:
                error = from_engine_error(caught) if isinstance(caught, EngineFault) else caught
                invalid = unprocessable and isinstance(error, InvalidRequest)
                return render(422 if invalid else error.status_code, error.message, error.headers)
            except HTTPException as refused:
                invalid = unprocessable and refused.status_code == 400
                return render(422 if invalid else refused.status_code, refused.detail, refused.headers)

        return shaped

    return decorate


def log_fields(request: Request) -> dict[str, Any]:
    """The request's access-log record, which routes and services add fields to (tokens, task, timings)."""
    fields: dict[str, Any] = request.scope.setdefault("state", {}).setdefault("log", {})
    return fields


def start_deadline(request: Request) -> float:
    """The event-loop time by which the request must be done (``--request-timeout`` from now)."""
    return asyncio.get_running_loop().time() + request.app.state.settings.request_timeout


def task_headers(fields: Mapping[str, Any]) -> dict[str, str]:
    """``X-OCR-Task`` / ``X-OCR-Prompt-Set``: the task the request ran, for clients and proxies that read
    headers (sent before a stream's first chunk); ``X-OCR-Warning``: what the answer's reading warns of, when the
    answer is complete (the body says it too)."""
    if "prompt_set" not in fields:
        return {}
    headers = {"X-OCR-Task": fields.get("task") or "none", "X-OCR-Prompt-Set": fields["prompt_set"]}
    if warnings := fields.get("warnings"):
        headers["X-OCR-Warning"] = warning_header(warnings)
    return headers


def warning_header(warnings: list[str], most: int = 5) -> str:
    """Warnings as one header value: the first ``most``, ASCII (a header is Latin-1), joined by " | "."""
    shown = [*warnings[:most], *([f"and {len(warnings) - most} more"] if len(warnings) > most else [])]
    return " | ".join(shown).encode("ascii", "backslashreplace").decode()


async def answer(
    request: Request, work: Callable[[Ticket], Awaitable[Response]], *, slots: int = 1, deadline: float | None = None
) -> Response:
    """``work(ticket)``'s response, holding ``slots`` engine slots; the deadline starts once they are held unless
    one is given. The response also names the task the request ran (``task_headers``)."""
    ticket = None
    try:
        # A client that gives up while queued leaves the queue at once.
        ticket = await unless_disconnected(request, _admission(request).enter(slots))
        response = await unless_disconnected(
            request, within_deadline(deadline or start_deadline(request), work(ticket))
        )
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    finally:
        if ticket is not None:
            ticket.release()
    response.headers.update(task_headers(log_fields(request)))
    return response


async def as_json(result: Awaitable[BaseModel]) -> JSONResponse:
    """A service's answer as a JSON response."""
    return JSONResponse((await result).model_dump())


async def stream(
    request: Request,
    items: Callable[[Ticket], AsyncGenerator[Item, None]],
    *,
    transport: Transport,
    format: StreamFormat,
    slots: int = 1,
    deadline: float | None = None,
    first_is_output: bool = False,
) -> Response:
    """``items(ticket)`` as a stream holding ``slots`` engine slots until it ends. The first item is awaited
    before the response starts, so an error up to then is an HTTP error; ``first_is_output`` records the wait
    as the time to first token."""
    ticket = None
    try:
        ticket = await unless_disconnected(request, _admission(request).enter(slots))
        deadline = deadline or start_deadline(request)
        rest = items(ticket)
        started = time.perf_counter()
        first = await unless_disconnected(request, within_deadline(deadline, anext(rest)))
        fields = log_fields(request)
        if first_is_output:
            fields["ttft_ms"] = round((time.perf_counter() - started) * 1000, 1)
        response = stream_response(
            first,
            rest,
            transport=transport,
            format=format,
            deadline=deadline,
            on_close=ticket.release,
            shutdown_grace=request.app.state.settings.shutdown_timeout,
            headers=task_headers(fields),
        )
        ticket = None  # the stream releases it when it ends
        return response
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    finally:
        if ticket is not None:
            ticket.release()


async def read_uploads(
    request: Request, *, max_files: int, max_fields: int = MAX_FORM_FIELDS
) -> tuple[list[Upload], list[tuple[str, str]]]:
    """The uploaded files (multipart ``files``, or the raw body as one file) and the form's other fields; the body
    is bounded by ``--max-body-mb`` as in chat."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    if mime == "multipart/form-data":
        form = await Request(request.scope, _replay(body)).form(max_files=max_files, max_fields=max_fields)
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


def _admission(request: Request) -> AdmissionControl:
    admission: AdmissionControl = request.app.state.admission
    return admission
