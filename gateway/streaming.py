"""Chat chunks → Server-Sent Events, OpenAI style: one ``data:`` line per chunk, then ``[DONE]``.

Once a stream has started its status is sent, so a later error becomes a last
event carrying the OpenAI error JSON, followed by ``[DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from gateway.deadline import until_deadline
from gateway.errors import GatewayError, ServerError
from gateway.protocol import ChatCompletionChunk

logger = logging.getLogger(__name__)

DONE = ServerSentEvent(data="[DONE]")
SEND_TIMEOUT = 30.0  # a client that stops reading for this long loses its stream (and its engine slot)


def sse_response(
    first: ChatCompletionChunk,
    rest: AsyncGenerator[ChatCompletionChunk, None],
    *,
    deadline: float,
    on_close: Callable[[], None],
    shutdown_grace: float,
) -> EventSourceResponse:
    """An SSE response that starts with an already received chunk and follows with the rest until ``deadline``
    (event-loop time); ``on_close`` runs when the stream ends, however it ends. On server shutdown the stream
    gets ``shutdown_grace`` seconds to finish before it is cut."""
    return _ClosingEventSourceResponse(
        _events(first, rest, deadline),
        on_close=on_close,
        rest=rest,
        ping=15,
        shutdown_grace_period=shutdown_grace,
        send_timeout=SEND_TIMEOUT,
    )


class _ClosingEventSourceResponse(EventSourceResponse):
    """Runs ``on_close`` and closes the chunk stream even when the body never started (client gone early)."""

    def __init__(
        self, content: Any, *, on_close: Callable[[], None], rest: AsyncGenerator[Any, None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close, self._rest = on_close, rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            logger.info("closed a stream whose client stopped reading for %.0f s", self.send_timeout)
        finally:
            self._on_close()  # idempotent
            await self._rest.aclose()


class NDJSONResponse(StreamingResponse):
    """Newline-delimited JSON lines. As with the SSE streams, a client that stops reading for ``SEND_TIMEOUT``
    loses its stream, and closing the lines' generator cancels the engine work behind them."""

    media_type = "application/x-ndjson"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeout = SEND_TIMEOUT

        async def send_or_give_up(message: Message) -> None:
            with anyio.move_on_after(timeout) as waited:
                await send(message)
            if waited.cancelled_caught:
                raise SendTimeoutError()

        try:
            await super().__call__(scope, receive, send_or_give_up)
        except SendTimeoutError:
            logger.info("closed a stream whose client stopped reading for %.0f s", timeout)
        finally:
            if isinstance(self.body_iterator, AsyncGenerator):
                await self.body_iterator.aclose()


async def _events(
    first: ChatCompletionChunk, rest: AsyncGenerator[ChatCompletionChunk, None], deadline: float
) -> AsyncIterator[ServerSentEvent]:
    # Closing `rest` as soon as this generator is closed aborts the engine request promptly;
    # the response's own `finally` releases the slot.
    async with aclosing(rest):
        yield ServerSentEvent(data=first.model_dump_json())
        async for event in _rest(rest, deadline):
            yield event
    yield DONE


async def _rest(rest: AsyncGenerator[ChatCompletionChunk, None], deadline: float) -> AsyncIterator[ServerSentEvent]:
    try:
        async for chunk in until_deadline(rest, deadline):
            yield ServerSentEvent(data=chunk.model_dump_json())
    except GatewayError as error:  # the request timeout too
        yield ServerSentEvent(data=error.body().model_dump_json())
    except Exception:
        logger.exception("stream failed after it started")
        yield ServerSentEvent(data=ServerError("The stream failed.").body().model_dump_json())
