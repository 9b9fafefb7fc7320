"""The hang guard the matcher and parser tests rely on really stops a runaway regular expression."""

from __future__ import annotations

import re
import signal

import pytest

from tests.prompts.hangs import Hung, fails_if_it_hangs


def test_a_catastrophic_backtrack_is_interrupted_and_a_timer_set_before_is_put_back() -> None:
    signal.setitimer(signal.ITIMER_REAL, 3600)  # as pytest-timeout would have it
    try:
        with pytest.raises(Hung), fails_if_it_hangs(0.2):
            re.match(r"(a+)+$", "a" * 64 + "b")  # 2**64 ways to fail
        assert 3500 < signal.getitimer(signal.ITIMER_REAL)[0] <= 3600
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
