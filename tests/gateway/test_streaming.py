"""A client that stops reading a stream loses it after ``SEND_TIMEOUT``, the engine work behind it stops and its
slots are released — for both transports (SSE, NDJSON) and both APIs' stream formats. Driven at the ASGI level: a
socket that stops draining is a ``send`` that never returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from starlette.types import Message

from gateway import streaming
from gateway.protocol import ChatCompletionChunk
from gateway.streaming import CHAT_STREAM, OCR_STREAM, StreamFormat, Transport, stream_response

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


@pytest.mark.parametrize(("transport", "format"), [("ndjson", OCR_STREAM), ("sse", OCR_STREAM), ("sse", CHAT_STREAM)])
def test_a_stream_whose_client_stops_reading_is_closed_its_work_stopped_and_its_slots_released(
    transport: Transport, format: StreamFormat
) -> None:
    async def scenario() -> tuple[StallingClient, EndlessWork, list[str]]:
        client, work, closes = StallingClient(reads=4), EndlessWork(), []
        deadline = asyncio.get_running_loop().time() + 60
        response = stream_response(
            chunk(),
            work.items(chunk),
            transport=transport,
            format=format,
            deadline=deadline,
            on_close=lambda: closes.append("slot"),
            shutdown_grace=1,
        )
        await asyncio.wait_for(response(SCOPE, client.receive, client.send), timeout=10)
        return client, work, closes

    client, work, closes = asyncio.run(scenario())
    assert work.closed.is_set() and closes == ["slot"]  # engine work stopped, admission slots released
    assert client.received[0]["type"] == "http.response.start" and len(client.received) == 4
    if transport == "ndjson":
        lines = [message["body"] for message in client.received[1:]]
        assert lines == [chunk().model_dump_json().encode() + b"\n"] * 3


@pytest.mark.parametrize("transport", ["ndjson", "sse"])
def test_a_failure_after_the_stream_started_becomes_a_last_error_event(transport: Transport) -> None:
    async def failing() -> AsyncGenerator[ChatCompletionChunk, None]:
        yield chunk()
        raise RuntimeError("boom")

    async def scenario() -> list[bytes]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        deadline = asyncio.get_running_loop().time() + 60
        rest = failing()
        response = stream_response(
            chunk(), rest, transport=transport, format=OCR_STREAM, deadline=deadline, on_close=lambda: None,
            shutdown_grace=1,
        )  # fmt: skip
        await asyncio.wait_for(response(SCOPE, StallingClient(0).receive, send), timeout=10)
        return [message.get("body", b"") for message in sent[1:]]

    body = b"".join(asyncio.run(scenario())).decode()
    assert body.count('"type": "error"') == 1 and "The stream failed." in body and "boom" not in body


def test_the_send_watch_times_each_send_from_its_own_start() -> None:
    # 20 sends of 20 ms under a 100 ms watch, 400 ms in all: the one timer re-arms on each send's start, so none
    # is given up; a send that then stalls is, after about the timeout.
    async def scenario() -> float:
        watch = streaming.SendWatch(0.1)

        async def slow_send(message: Message) -> None:
            await asyncio.sleep(0.02)

        for _ in range(20):
            await watch.send(slow_send, {"type": "http.response.body"})
        began = asyncio.get_running_loop().time()
        with pytest.raises(streaming.SendTimeoutError):
            await watch.send(StallingClient(0).send, {"type": "http.response.body"})
        watch.close()
        return asyncio.get_running_loop().time() - began

    assert 0.09 <= asyncio.run(scenario()) < 1.0


def test_a_stalled_send_cancelled_from_elsewhere_stays_a_cancellation() -> None:
    async def scenario() -> None:
        watch = streaming.SendWatch(0.2)
        task = asyncio.create_task(watch.send(StallingClient(0).send, {"type": "http.response.body"}))
        await asyncio.sleep(0.05)
        task.cancel()  # the client went away, or the server shuts down
        with pytest.raises(asyncio.CancelledError):
            await task
        watch.close()

    asyncio.run(scenario())


def test_a_send_that_swallows_the_watchs_cancel_leaves_none_behind() -> None:
    async def scenario() -> int:
        watch = streaming.SendWatch(0.05)

        async def stubborn_send(message: Message) -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # finished the write anyway

        await watch.send(stubborn_send, {"type": "http.response.body"})
        watch.close()
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert asyncio.run(scenario()) == 0
