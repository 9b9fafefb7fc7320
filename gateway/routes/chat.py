"""``POST /v1/chat/completions``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.chat import ChatService
from gateway.deadline import within_deadline
from gateway.disconnect import ClientDisconnected, unless_disconnected
from gateway.errors import (
    EngineUnavailable,
    InvalidRequest,
    PayloadTooLarge,
    SlowRequestBody,
    from_validation_error,
)
from gateway.protocol import ChatCompletionRequest, TextPart
from gateway.streaming import sse_response

T = TypeVar("T")
BODY_READ_TIMEOUT = 60.0
LARGE_BODY = 256 * 1024
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that hung up; never seen by that client


async def create_chat_completion(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    if request.app.state.lifecycle.state != "ready":
        raise EngineUnavailable("The model is still loading; retry shortly.", headers={"Retry-After": "5"})
    chat_request = parse_body(ChatCompletionRequest, await read_json(request))
    report: dict[str, Any] = request.scope.get("state", {}).get("log", {})
    if request.app.state.settings.log_requests:
        report["request_text"] = _texts(chat_request)
    ticket = None
    try:
        # A client that gives up while queued leaves the queue at once.
        ticket = await unless_disconnected(request, request.app.state.admission.enter())
        deadline = asyncio.get_running_loop().time() + request.app.state.settings.request_timeout
        if chat_request.stream:
            chunks = service.stream(chat_request, report=report)
            started = time.perf_counter()
            first = await unless_disconnected(request, within_deadline(deadline, anext(chunks)))
            report["ttft_ms"] = round((time.perf_counter() - started) * 1000, 1)
            grace = request.app.state.settings.shutdown_timeout
            response: Response = sse_response(
                first, chunks, deadline=deadline, on_close=ticket.release, shutdown_grace=grace
            )
            ticket = None  # the stream releases it when it ends
            return response
        completion = await unless_disconnected(
            request, within_deadline(deadline, service.complete(chat_request, report=report))
        )
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    finally:
        if ticket is not None:
            ticket.release()
    return JSONResponse(completion.model_dump())


def _texts(chat_request: ChatCompletionRequest) -> list[str]:
    """The request's words for ``--log-requests`` (never its images)."""
    texts = []
    for message in chat_request.messages:
        content = message.content if isinstance(message.content, list) else [message.content or ""]
        texts += [part if isinstance(part, str) else part.text for part in content if isinstance(part, str | TextPart)]
    return texts


async def read_json(request: Request) -> Any:
    """The JSON body, refused with 413 as soon as it passes the size limit (before it is all read)."""
    body = await read_body(request)
    try:
        # Bodies with images run to megabytes: parsing them would stall every stream on the event loop.
        return json.loads(body) if len(body) < LARGE_BODY else await asyncio.to_thread(json.loads, body)
    except ValueError as error:  # malformed JSON, bad UTF-8, integers too long to convert
        raise InvalidRequest(f"The request body is not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None


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


def parse_body(model: type[ChatCompletionRequest], body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise from_validation_error(error) from None
