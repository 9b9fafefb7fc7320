"""Output clean-up: HunyuanOCR's official repeated-tail cut, and the check that stops a looping stream.

Tencent's ``clean_repeated_substrings`` (the output utilities of their 1.0 and 1.5 inference code) looks for the
shortest unit of 2 characters or more that ends the text at least 10 times back to back — whatever its length, up
to a tenth of the text — and keeps one copy. ``repeated_tail`` is that search; a unit of hundreds of characters (a
looping translation repeats whole sentences) is found like a short one. Their stream check looks only at units up
to 256 characters in the last 8000; ours looks at every length there (``LoopGuard.WINDOW``), so a long-unit loop
is stopped early too.
"""

from __future__ import annotations


def repeated_tail(text: str, min_repeats: int, min_span: int = 0) -> tuple[int, int] | None:
    """(unit length, repeats) of the shortest unit (2 characters or more) that ends ``text`` at least
    ``min_repeats`` times back to back, the repeats covering at least ``min_span`` characters."""
    size = len(text)
    for unit_length in range(2, size // min_repeats + 1):
        # The copy before the last decides most lengths at once; startswith compares in place, without slicing.
        start = size - 2 * unit_length
        if text[-1] != text[-1 - unit_length] or not text.startswith(text[start + unit_length :], start):
            continue
        repeats, start = 2, start - unit_length
        while start >= 0 and text.startswith(text[size - unit_length :], start):
            repeats, start = repeats + 1, start - unit_length
        if repeats >= min_repeats and repeats * unit_length >= min_span:
            return unit_length, repeats
    return None


def cut_repeated_tail(text: str, *, min_chars: int, min_repeats: int = 10) -> tuple[str, bool]:
    """The official clean-up: a text of ``min_chars`` or more ending in ≥10 repeats keeps one copy of the unit."""
    if len(text) < min_chars:
        return text, False
    found = repeated_tail(text, min_repeats)
    if found is None:
        return text, False
    unit_length, repeats = found
    return text[: len(text) - (repeats - 1) * unit_length], True


class LoopGuard:
    """Watches a growing answer; says when its tail has looped (checked every ``every`` chars after ``start``)."""

    WINDOW = 8000  # characters of the tail looked at, as Tencent's stream check: each check costs the same

    def __init__(self, start: int = 4000, every: int = 1000, min_repeats: int = 8, min_span: int = 1000) -> None:
        # min_span: a dot leader or a row of blanks on a form repeats too; a loop goes on for a long stretch.
        self._start, self._every, self._min_repeats, self._min_span = start, every, min_repeats, min_span
        self._next_check = start

    @property
    def start(self) -> int:
        """Answer length (characters) of the first check: an answer that cannot grow this long is never checked."""
        return self._start

    def due(self, length: int) -> bool:
        """Whether an answer of ``length`` characters should be checked now (cheap; no text needed)."""
        return length >= self._next_check

    def looping(self, text: str) -> bool:
        if not self.due(len(text)):
            return False
        self._next_check = len(text) + self._every
        return repeated_tail(text[-self.WINDOW :], self._min_repeats, self._min_span) is not None
