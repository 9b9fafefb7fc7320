"""The request deadline over a stream (one timer for the whole stream): it ends a wait for the next item, never
the consumer's own work, and other cancellations pass through as cancellations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import pytest

from gateway.deadline import until_deadline
from gateway.errors import RequestTimeout


async def items(gaps: list[float]) -> AsyncGenerator[int, None]:
    for index, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield index


async def collect(stream: AsyncGenerator[int, None], deadline_in: float, hold: float = 0.0) -> list[int]:
    got: list[int] = []
    async for item in until_deadline(stream, asyncio.get_running_loop().time() + deadline_in):
        got.append(item)
        await asyncio.sleep(hold)  # the consumer's own work (a slow client) while it holds the item
    return got


def test_all_items_arrive_before_the_deadline() -> None:
    assert asyncio.run(collect(items([0.0, 0.01, 0.0]), deadline_in=5)) == [0, 1, 2]


def test_a_wait_past_the_deadline_is_a_request_timeout() -> None:
    got: list[int] = []

    async def scenario() -> None:
        async for item in until_deadline(items([0.0, 10.0]), asyncio.get_running_loop().time() + 0.1):
            got.append(item)

    start = time.monotonic()
    with pytest.raises(RequestTimeout):
        asyncio.run(scenario())
    assert got == [0] and time.monotonic() - start < 5


def test_the_consumers_own_time_is_not_cut_but_a_deadline_passed_meanwhile_ends_the_stream() -> None:
    # The consumer holds item 0 for 0.3 s across a 0.1 s deadline: its sleep finishes, then asking again times out.
    finished: list[str] = []

    async def scenario() -> None:
        async for _ in until_deadline(items([0.0, 0.0]), asyncio.get_running_loop().time() + 0.1):
            await asyncio.sleep(0.3)
            finished.append("held to the end")

    with pytest.raises(RequestTimeout):
        asyncio.run(scenario())
    assert finished == ["held to the end"]


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def scenario() -> None:
        task = asyncio.create_task(collect(items([0.0, 10.0]), deadline_in=30))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_items_that_swallow_the_cancel_still_time_out_and_leave_no_cancel_behind() -> None:
    async def stubborn() -> AsyncGenerator[int, None]:
        yield 0
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # answers anyway, as a careless engine adapter might
        yield 1

    async def scenario() -> int:
        with pytest.raises(RequestTimeout):
            async for _ in until_deadline(stubborn(), asyncio.get_running_loop().time() + 0.1):
                pass
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert asyncio.run(scenario()) == 0
