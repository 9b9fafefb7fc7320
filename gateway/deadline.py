"""The request timeout (``--request-timeout``): one deadline per request, on the event loop's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from typing import TypeVar

from gateway.errors import RequestTimeout

T = TypeVar("T")


def _timed_out() -> RequestTimeout:
    return RequestTimeout("The request took longer than the server's request timeout.")


async def within_deadline(deadline: float, work: Awaitable[T]) -> T:
    """``work``'s result; ``RequestTimeout`` once ``deadline`` passes."""
    try:
        async with asyncio.timeout_at(deadline):
            return await work
    except TimeoutError:
        raise _timed_out() from None


async def until_deadline(items: AsyncGenerator[T, None], deadline: float) -> AsyncGenerator[T, None]:
    """``items`` to their end; ``RequestTimeout`` once ``deadline`` passes while waiting for the next one. The
    time the consumer holds an item (a slow client reading a stream) does not count: a deadline that passed
    meanwhile ends the stream when the next item is asked for.

    One timer for the whole stream, not one per item (a timeout per item cost ~5 µs of every streamed token).
    It cancels the waiting task only while it waits, and is told apart from other cancellations as
    ``asyncio.timeout`` does (by the task's cancellation count)."""
    loop = asyncio.get_running_loop()
    waiting: asyncio.Task[object] | None = None
    passed = expired = False  # the timer fired (asyncio may fire it a clock tick early); it cancelled a wait

    def expire() -> None:
        nonlocal passed, expired
        passed = True
        if waiting is not None:
            expired = True
            waiting.cancel()

    timer = loop.call_at(deadline, expire)
    try:
        while not passed and loop.time() < deadline:
            task = asyncio.current_task()
            assert task is not None
            cancelling, waiting = task.cancelling(), task
            try:
                item = await anext(items)
            except StopAsyncIteration:
                if expired:
                    task.uncancel()  # the items swallowed our cancel and ended: take it back
                return
            except asyncio.CancelledError:
                if expired and task.uncancel() <= cancelling:
                    raise _timed_out() from None
                raise
            finally:
                waiting = None
            if expired:
                task.uncancel()  # the items swallowed our cancel and answered: take it back, the time is up
                break
            yield item
        raise _timed_out()
    finally:
        timer.cancel()
