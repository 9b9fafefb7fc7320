"""Waiting for a condition, not for a length of time: a sleep long enough on a quiet machine is too short on a busy
one, and a wait with no deadline turns a bug into a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


class _Deadline:
    """``timeout`` seconds from now; ``check`` fails the test, naming ``what`` it waited for, once they are over."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout, self.what = timeout, what
        self._at = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() >= self._at:
            pytest.fail(f"waited {self.timeout:g} s for {self.what}")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls ``condition`` until it returns something true and returns that; fails the test after ``timeout`` s."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        time.sleep(interval)
    return value


async def wait_until_async(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.001) -> T:
    """``wait_until`` inside an event loop, which keeps running between polls."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        await asyncio.sleep(interval)
    return value
