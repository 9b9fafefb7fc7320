"""Chat chunks → Server-Sent Events, OpenAI style: one ``data:`` line per chunk, then ``[DONE]``.

Once a stream has started its status is sent, so a later error becomes a last
event carrying the OpenAI error JSON, followed by ``[DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.errors import GatewayError, ServerError
from gateway.protocol import ChatCompletionChunk

logger = logging.getLogger(__name__)

DONE = ServerSentEvent(data="[DONE]")


def sse_response(first: ChatCompletionChunk, rest: AsyncGenerator[ChatCompletionChunk, None]) -> EventSourceResponse:
    """An SSE response that starts with an already received chunk and follows with the rest."""
    return EventSourceResponse(_events(first, rest), ping=15)


async def _events(
    first: ChatCompletionChunk, rest: AsyncGenerator[ChatCompletionChunk, None]
) -> AsyncIterator[ServerSentEvent]:
    async with aclosing(rest):
        yield ServerSentEvent(data=first.model_dump_json())
        try:
            async for chunk in rest:
                yield ServerSentEvent(data=chunk.model_dump_json())
        except GatewayError as error:
            yield ServerSentEvent(data=error.body().model_dump_json())
        except Exception:
            logger.exception("stream failed after it started")
            yield ServerSentEvent(data=ServerError("The stream failed.").body().model_dump_json())
    yield DONE
