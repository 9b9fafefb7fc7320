"""The request timeout (``--request-timeout``): one deadline per request, on the event loop's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
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


async def until_deadline(items: AsyncGenerator[T, None], deadline: float) -> AsyncIterator[T]:
    """``items`` to their end; ``RequestTimeout`` once ``deadline`` passes while waiting for the next one. The
    time the consumer holds an item (a slow client reading a stream) does not count."""
    while True:
        try:
            item = await within_deadline(deadline, anext(items))
        except StopAsyncIteration:
            return
        yield item
