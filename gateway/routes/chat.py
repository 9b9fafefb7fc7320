"""``POST /v1/chat/completions``."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.chat import ChatService
from gateway.disconnect import ClientDisconnected, unless_disconnected
from gateway.errors import InvalidRequest, PayloadTooLarge, from_validation_error
from gateway.protocol import ChatCompletionRequest
from gateway.streaming import sse_response

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that hung up; never seen by that client


async def create_chat_completion(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    chat_request = parse_body(ChatCompletionRequest, await read_json(request))
    try:
        if chat_request.stream:
            chunks = service.stream(chat_request)
            first = await unless_disconnected(request, anext(chunks))
            return sse_response(first, chunks)
        completion = await unless_disconnected(request, service.complete(chat_request))
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return JSONResponse(completion.model_dump())


async def read_json(request: Request) -> Any:
    """The JSON body, refused with 413 as soon as it passes the size limit (before it is all read)."""
    limit = int(request.app.state.settings.media.max_body_mb * 2**20)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequest(f"The request body is not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None


def parse_body(model: type[ChatCompletionRequest], body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise from_validation_error(error) from None
