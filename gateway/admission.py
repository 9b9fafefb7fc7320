"""Backpressure for both APIs: a bounded number of engine slots, a bounded queue, and 429 past that.

A request asks for as many slots as it has images for the engine (chat: one; ``/ocr``: one per image or PDF
page). It gets at most ``max_running`` of them — a request with more pages than that runs them in turn in the
slots it holds — and waits in first-come order until they are free. Edge cases:
- a request that could never be admitted (more pages than slots and queue together) is a 400, at once;
- one that would not fit in the queue now is a 429 with ``Retry-After``, before any work;
- a request cancelled while queued (its client left) leaves the queue, and gives back slots handed to it
  in the same instant.

Work in the background (docling-serve's async tasks, PaddleOCR's jobs) takes slots from the same queue with
``wait_for_slots``, which sits a full queue out instead of answering 429.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.errors import InvalidRequest, RateLimited

RETRY_AFTER_SECONDS = 1


class Ticket:
    """One admitted request's slots; released exactly once, whenever its response is done."""

    def __init__(self, admission: AdmissionControl, slots: int) -> None:
        self._admission: AdmissionControl | None = admission
        self.slots = slots  # how many of the request's pages may be in the engine at once

    def release(self) -> None:
        if self._admission is not None:
            self._admission._release(self.slots)
            self._admission = None


class AdmissionControl:
    """At most ``max_running`` slots in use and ``max_waiting`` more asked for in the queue."""

    def __init__(self, max_running: int, max_waiting: int) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0  # slots in use
        self.waiting = 0  # slots asked for by queued requests
        self._queue: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def capacity(self) -> int:
        """Slots that can be in use or queued at once."""
        return self.max_running + self.max_waiting

    @property
    def room(self) -> int:
        """Slots that would be admitted (run or queued) right now."""
        return self.capacity - self.running - self.waiting

    async def enter(self, count: int = 1) -> Ticket:
        """Slots for ``count`` engine requests, waiting in the queue if need be."""
        if count > self.capacity:
            raise InvalidRequest(
                f"The request holds {count} images and PDF pages; this server runs and queues at most "
                f"{self.capacity} at once."
            )
        if count > self.room:
            raise RateLimited(
                "The server is at capacity; retry shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        slots = min(count, self.max_running)
        if not self._queue and self.running + slots <= self.max_running:
            self.running += slots
            return Ticket(self, slots)
        await self._wait_in_queue(slots, count)
        return Ticket(self, slots)

    async def _wait_in_queue(self, slots: int, count: int) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (slots, granted)
        self._queue.append(entry)
        self.waiting += count
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(slots)  # handed over just as the request left: give them back
            elif entry in self._queue:
                self._queue.remove(entry)
            raise
        finally:
            self.waiting -= count

    def _release(self, slots: int) -> None:
        self.running -= slots
        while self._queue and self.running + self._queue[0][0] <= self.max_running:
            wanted, granted = self._queue.popleft()
            if not granted.done():  # a cancelled waiter is skipped; it removes nothing else
                self.running += wanted
                granted.set_result(None)


async def wait_for_slots(admission: AdmissionControl, count: int, deadline: float) -> tuple[Ticket, float]:
    """Slots for ``count`` engine requests of work in the background, a full queue waited out (tried again every
    ``RETRY_AFTER_SECONDS``) rather than refused; with ``deadline`` (the loop's clock) moved on by the time spent
    waiting, which the work's timeout does not count."""
    loop = asyncio.get_running_loop()
    waiting_since = loop.time()
    while True:
        try:
            ticket = await admission.enter(count)
        except RateLimited:
            await asyncio.sleep(RETRY_AFTER_SECONDS)
        else:
            return ticket, deadline + loop.time() - waiting_since
