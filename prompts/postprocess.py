"""Output clean-up: HunyuanOCR's official repeated-tail cut, and the check that stops a looping stream."""

from __future__ import annotations

MAX_UNIT = 400  # longest repeating unit looked for, in characters


def repeated_tail(text: str, min_repeats: int, min_span: int = 0) -> tuple[int, int] | None:
    """(unit length, repeats) of the shortest unit that ends ``text`` at least ``min_repeats`` times back to back,
    the repeats covering at least ``min_span`` characters."""
    for unit_length in range(1, min(MAX_UNIT, len(text) // min_repeats) + 1):
        unit = text[-unit_length:]
        repeats, end = 1, len(text) - unit_length
        while end >= unit_length and text[end - unit_length : end] == unit:
            repeats += 1
            end -= unit_length
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
        return repeated_tail(text, self._min_repeats, self._min_span) is not None
