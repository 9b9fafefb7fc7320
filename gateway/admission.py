"""Backpressure: a bounded number of requests in the engine, a bounded queue, and 429 past that."""

from __future__ import annotations

import asyncio

from gateway.errors import RateLimited

RETRY_AFTER_SECONDS = 1


class Ticket:
    """One admitted request's slot; released exactly once, whenever its response is done."""

    def __init__(self, admission: AdmissionControl) -> None:
        self._admission: AdmissionControl | None = admission

    def release(self) -> None:
        if self._admission is not None:
            self._admission._release()
            self._admission = None


class AdmissionControl:
    """At most ``max_running`` requests in the engine and ``max_waiting`` more queued for a slot."""

    def __init__(self, max_running: int, max_waiting: int) -> None:
        self._slots = asyncio.Semaphore(max_running)
        self._max_running = max_running
        self._max_waiting = max_waiting
        self.running = 0
        self.waiting = 0

    @property
    def capacity(self) -> int:
        """Requests that can be running or queued at once."""
        return self._max_running + self._max_waiting

    @property
    def room(self) -> int:
        """Requests that would be admitted (run or queued) right now."""
        return self.capacity - self.running - self.waiting

    async def enter(self) -> Ticket:
        """A slot, waiting in the queue if need be; ``RateLimited`` when the queue is full too."""
        if self._slots.locked() and self.waiting >= self._max_waiting:
            raise RateLimited(
                "The server is at capacity; retry shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        return Ticket(self)

    def _release(self) -> None:
        self.running -= 1
        self._slots.release()
