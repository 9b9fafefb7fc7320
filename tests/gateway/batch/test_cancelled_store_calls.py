"""A store call whose caller is cancelled still runs to its end (``database.finished_when_cancelled``): a
transaction cut off in the middle left its SQLite connection holding the write lock, and the next writer waited
out ``busy_timeout`` (a gateway's shutdown 60–90 s late; seen in 4 of 24 runs of test_claims.py eight at a time,
in none of 16 since)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.jobstore.database import finished_when_cancelled


@finished_when_cancelled
class SlowStore:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished = False

    async def write(self) -> str:
        self.started.set()
        await asyncio.sleep(0.2)
        self.finished = True
        return "written"

    async def fail(self) -> None:
        self.started.set()
        await asyncio.sleep(0.2)
        raise RuntimeError("the store call failed")

    async def _private(self) -> None:
        await asyncio.sleep(10)


def test_a_cancelled_caller_waits_for_the_call_to_finish_then_is_cancelled() -> None:
    async def scenario() -> None:
        store = SlowStore()
        caller = asyncio.create_task(store.write())
        await store.started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert store.finished

    asyncio.run(scenario())


def test_results_pass_through_and_private_methods_are_left_alone() -> None:
    assert asyncio.run(SlowStore().write()) == "written"
    assert hasattr(SlowStore.write, "__wrapped__") and not hasattr(SlowStore._private, "__wrapped__")


def test_a_cancelled_caller_is_cancelled_even_where_the_call_then_fails() -> None:
    async def scenario() -> None:
        store = SlowStore()
        caller = asyncio.create_task(store.fail())
        await store.started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):  # not the RuntimeError: a stopping worker must stop
            await caller

    asyncio.run(scenario())
