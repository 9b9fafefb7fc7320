"""A client that stops reading a stream loses it after ``SEND_TIMEOUT``, and the engine work behind it stops —
for chat's SSE streams and ``/ocr``'s NDJSON ones. Driven at the ASGI level: a socket that stops draining is
a ``send`` that never returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from starlette.types import Message

from gateway import streaming
from gateway.protocol import ChatCompletionChunk
from gateway.streaming import NDJSONResponse, sse_response

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST", "path": "/"}


class StallingClient:
    """Reads ``reads`` messages, then stops reading; never disconnects."""

    def __init__(self, reads: int) -> None:
        self.reads = reads
        self.received: list[Message] = []

    async def send(self, message: Message) -> None:
        if len(self.received) >= self.reads:
            await asyncio.Event().wait()
        self.received.append(message)

    async def receive(self) -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class EndlessWork:
    """Stands for the engine: produces items forever until it is closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def items(self, make: object) -> AsyncGenerator[object, None]:
        try:
            while True:
                yield make() if callable(make) else make
                await asyncio.sleep(0.001)
        finally:
            self.closed.set()


def chunk() -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {"id": "chatcmpl-1", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    )


@pytest.fixture(autouse=True)
def short_send_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "SEND_TIMEOUT", 0.3)


def test_an_ndjson_stream_whose_client_stops_reading_is_closed_and_its_work_stopped() -> None:
    async def scenario() -> tuple[StallingClient, EndlessWork]:
        client, work = StallingClient(reads=4), EndlessWork()
        response = NDJSONResponse(work.items('{"type": "page"}\n'))
        await asyncio.wait_for(response(SCOPE, client.receive, client.send), timeout=10)
        return client, work

    client, work = asyncio.run(scenario())
    assert work.closed.is_set()
    assert client.received[0]["type"] == "http.response.start"
    assert [message["body"] for message in client.received[1:]] == [b'{"type": "page"}\n'] * 3


def test_an_sse_stream_whose_client_stops_reading_is_closed_and_its_work_stopped() -> None:
    async def scenario() -> tuple[StallingClient, EndlessWork, list[str]]:
        client, work, closes = StallingClient(reads=4), EndlessWork(), []
        deadline = asyncio.get_running_loop().time() + 60
        response = sse_response(
            chunk(), work.items(chunk), deadline=deadline, on_close=lambda: closes.append("slot"), shutdown_grace=1
        )
        await asyncio.wait_for(response(SCOPE, client.receive, client.send), timeout=10)
        return client, work, closes

    client, work, closes = asyncio.run(scenario())
    assert work.closed.is_set() and closes == ["slot"]  # engine work stopped, admission slot released
    assert client.received[0]["type"] == "http.response.start" and len(client.received) == 4
