"""Streams of wire models → Server-Sent Events or newline-delimited JSON, for every API.

A stream starts with an item already received (so a request the engine rejects
still gets an HTTP error), then follows with the rest until the request's
deadline. Once it has started its status is sent, so a later error becomes a
last event in the API's own error shape (and, for OpenAI's chat streams, the
``[DONE]`` that always ends them). A client that stops reading for
``SEND_TIMEOUT`` loses its stream; however a stream ends, its items' generator
is closed (which aborts the engine work behind it) and ``on_close`` runs once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from gateway.deadline import until_deadline
from gateway.errors import GatewayError, ServerError

logger = logging.getLogger(__name__)
T = TypeVar("T")

SEND_TIMEOUT = 30.0  # a client that stops reading for this long loses its stream (and its engine slots)
PING_SECONDS = 15  # SSE comments that keep proxies from closing a quiet stream

Transport = Literal["sse", "ndjson"]


@dataclass(frozen=True)
class StreamFormat:
    """How one API ends its streams: its last error event, and a closing sentinel if it has one."""

    error_event: Callable[[GatewayError], str]
    done: str | None = None


# OpenAI's chat streams: the error JSON as it is, then "[DONE]".
CHAT_STREAM = StreamFormat(error_event=lambda error: error.body().model_dump_json(), done="[DONE]")
# /ocr's streams: {"type": "error", "error": {...}}, like their other events, and no sentinel.
OCR_STREAM = StreamFormat(error_event=lambda error: json.dumps({"type": "error", **error.body().model_dump()}))


Item = BaseModel | str  # a wire model, or one already written as JSON text


def stream_response(
    first: Item,
    rest: AsyncGenerator[Item, None],
    *,
    transport: Transport,
    format: StreamFormat,
    deadline: float,
    on_close: Callable[[], None],
    shutdown_grace: float,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``first`` and then ``rest`` until ``deadline`` (event-loop time) as SSE or NDJSON. On server shutdown an
    SSE stream gets ``shutdown_grace`` seconds to finish before it is cut."""
    if transport == "sse":
        return _ClosingEventSourceResponse(
            _encoded(first, rest, deadline, format, _sse_event),
            on_close=on_close,
            rest=rest,
            headers=headers,
            ping=PING_SECONDS,
            shutdown_grace_period=shutdown_grace,
        )
    lines = _encoded(first, rest, deadline, format, _ndjson_line)
    return NDJSONResponse(lines, on_close=on_close, rest=rest, headers=headers)


def _sse_event(data: str) -> bytes:
    # What ServerSentEvent(data=data).encode() writes for one line: JSON text holds no line break.
    return f"data: {data}\r\n\r\n".encode()


def _ndjson_line(data: str) -> str:
    return data + "\n"


def _json(item: Item) -> str:
    return item if isinstance(item, str) else item.model_dump_json()


async def _encoded(
    first: Item,
    rest: AsyncGenerator[Item, None],
    deadline: float,
    format: StreamFormat,
    frame: Callable[[str], T],
) -> AsyncIterator[T]:
    # Closing `rest` as soon as this generator is closed aborts the engine work promptly;
    # the response's own `finally` releases the slots.
    async with aclosing(rest):
        yield frame(_json(first))
        try:
            async with aclosing(until_deadline(rest, deadline)) as items:  # its timer ends with the stream
                async for item in items:
                    yield frame(_json(item))
        except GatewayError as error:  # the request timeout too
            yield frame(format.error_event(error))
        except Exception:
            logger.exception("stream failed after it started")
            yield frame(format.error_event(ServerError("The stream failed.")))
    if format.done is not None:
        yield frame(format.done)


class SendWatch:
    """Gives up on a send that has not returned for ``timeout`` seconds: a client that stopped reading.

    One timer per stream, re-armed only when it fires, so a send costs a clock read and two dict operations
    (a cancel scope per send, as sse-starlette has, cost ~8 µs of every streamed token). A send that overstays
    has its task cancelled and raises ``SendTimeoutError``; other cancellations pass through, told apart by
    the task's cancellation count as ``asyncio.timeout`` does."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._sending: dict[asyncio.Task[Any], float] = {}  # task → when its send began
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def send(self, send: Send, message: Message) -> None:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._sending[task] = began = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(began + self.timeout, self._check, loop)
        try:
            await send(message)
        except asyncio.CancelledError:
            if task in self._expired and task.uncancel() <= cancelling:
                raise SendTimeoutError() from None
            raise
        else:
            if task in self._expired:
                task.uncancel()  # the send swallowed our cancel and finished: take it back
        finally:
            del self._sending[task]
            self._expired.discard(task)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, now = None, loop.time()
        for task, began in self._sending.items():
            if now - began >= self.timeout and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        waiting = [began for task, began in self._sending.items() if task not in self._expired]
        if waiting:  # otherwise the next send arms the timer
            self._timer = loop.call_at(min(waiting) + self.timeout, self._check, loop)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _ClosingEventSourceResponse(EventSourceResponse):
    """Runs ``on_close`` and closes the item stream even when the body never started (client gone early); its
    sends are timed by one ``SendWatch``."""

    def __init__(
        self, content: Any, *, on_close: Callable[[], None], rest: AsyncGenerator[Any, None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close, self._rest = on_close, rest
        self._watch = SendWatch(SEND_TIMEOUT)

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        # sse-starlette's hook for every send it makes (data, pings, the closing body). Its own timeout is off
        # (no send_timeout): were the hook renamed, stalled clients would stay, and tests/gateway/test_streaming.py
        # fails.
        try:
            await self._watch.send(send, message)
        except BaseException:
            self._send_interrupted = True  # what sse-starlette's own version records: send nothing more
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            logger.info("closed a stream whose client stopped reading for %.0f s", self._watch.timeout)
        finally:
            self._watch.close()
            self._on_close()  # idempotent
            await self._rest.aclose()


class NDJSONResponse(StreamingResponse):
    """Newline-delimited JSON lines, with the SSE streams' send timeout and closing rules."""

    media_type = "application/x-ndjson"

    def __init__(
        self,
        content: AsyncIterator[Any],
        *,
        on_close: Callable[[], None] = lambda: None,
        rest: AsyncGenerator[Any, None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, headers=headers)
        self._on_close, self._rest = on_close, rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = SendWatch(SEND_TIMEOUT)
        try:
            await super().__call__(scope, receive, partial(watch.send, send))
        except SendTimeoutError:
            logger.info("closed a stream whose client stopped reading for %.0f s", watch.timeout)
        finally:
            watch.close()
            self._on_close()
            if isinstance(self.body_iterator, AsyncGenerator):
                await self.body_iterator.aclose()
            if self._rest is not None:
                await self._rest.aclose()
