"""``POST /v1/chat/completions``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway import edge
from gateway.chat import ChatService
from gateway.openapi import Endpoint, errors, json_body, operation
from gateway.protocol import ChatCompletion, ChatCompletionRequest, TextPart
from gateway.streaming import CHAT_STREAM


async def create_chat_completion(request: Request) -> Response:
    edge.require_ready(request)
    chat_request = edge.parse(ChatCompletionRequest, await edge.read_json(request))
    report = edge.log_fields(request)
    if request.app.state.settings.log_requests:
        report["request_text"] = _texts(chat_request)
    service: ChatService = request.app.state.chat
    if chat_request.stream:
        return await edge.stream(
            request,
            lambda ticket: service.stream(chat_request, report),
            transport="sse",
            format=CHAT_STREAM,
            first_is_output=True,
        )
    return await edge.answer(request, lambda ticket: edge.as_json(service.complete(chat_request, report)))


def _texts(chat_request: ChatCompletionRequest) -> list[str]:
    """The request's words for ``--log-requests`` (never its images)."""
    texts = []
    for message in chat_request.messages:
        content = message.content if isinstance(message.content, list) else [message.content or ""]
        texts += [part if isinstance(part, str) else part.text for part in content if isinstance(part, str | TextPart)]
    return texts


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/chat/completions",
        create_chat_completion,
        operation(
            "createChatCompletion",
            {
                200: {
                    "description": "A completion (JSON), or chunks as server-sent events when stream is true",
                    "content": {
                        "application/json": {"schema": ChatCompletion},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **errors(400, 401, 404, 413, 415, 429, 500, 503, 504),
            },
            requestBody=json_body(ChatCompletionRequest),
        ),
    )
]
