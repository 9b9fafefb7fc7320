"""A hard stop for code that must not hang, in place of assertions on how long it took."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hung(AssertionError):
    """The block was still running when its time was up."""


@contextmanager
def fails_if_it_hangs(seconds: float = 20) -> Iterator[None]:
    """Interrupts the block with ``Hung`` after ``seconds``.

    Generous on purpose: the inputs under test take milliseconds, a catastrophic backtrack or a quadratic
    loop on them takes minutes, and a busy machine only ever adds a little. SIGALRM reaches into a running
    regular-expression match too. A timer already set (pytest-timeout's signal method uses one) is put back.
    """

    def hung(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds} s")

    previous_handler = signal.signal(signal.SIGALRM, hung)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = max(previous_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)
