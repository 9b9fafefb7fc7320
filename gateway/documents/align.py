"""Blocks get boxes from the spotting answer: each spotted line is given to the block whose text holds it.

The document-parsing answer has the structure (headings, lists, tables, formulas) but, except for figures and
1.5's layout regions, no coordinates; the spotting answer has a box for every line but no structure. So:

1. Texts are compared normalised: Unicode NFKC, case folded, HTML tags and LaTeX commands dropped, and only
   letters and digits kept (no spaces, no punctuation), so "**Total:** 12.5 %" and "TOTAL 12,5%" agree and
   CJK and Latin text compare alike.
2. A block that already has the model's own box (a figure, a layout region) keeps it, and claims the lines whose
   centres lie inside it.
3. Anchors: every other line of at least ``MIN_ANCHOR`` characters (or equal to a whole block's text) goes to the
   block that contains it best: rapidfuzz's ``partial_ratio`` of the line within the block's text (a plain
   ``ratio`` when the line is the longer), at least ``MATCH``. Ties (within ``TIE`` points) go to a block whose
   text is not yet accounted for by its lines, and then to the one nearest after the previous line's block, so
   reading order settles repeated text. This is by containment, not
   by position in the list, so two-column pages whose spotting reads across the columns, and tables whose cells
   are spotted in another order than the HTML lists them, still align.
4. Short lines (numbers, single words, table cells): given to a block whose text holds them exactly and whose
   lines found so far lie within ``NEAR`` line heights of them — lines are taken in spotting order, and each
   one taken grows its block, so a table's rows join it one below the other.
5. A block whose lines cover less than ``MIN_COVERAGE`` of its text gets no box (its lines go back), and its
   box is otherwise the union of its lines' boxes.
6. Lines nobody took that lie above every placed block in the top ``MARGIN`` of the page are the running header
   the document-parsing task was told to leave out, those below every placed block in the bottom ``MARGIN`` the
   footer: they become page_header / page_footer blocks with their own boxes.

Where it fails (the block then has no box, or a wrong one):
- formulas: the spotted glyphs ("E=mc²") and the LaTeX ("E = mc^{2}", "\\frac{a}{b}") rarely agree past simple
  cases;
- lines the two answers read differently (more than ~15% of the characters), such as a degraded scan where
  the two readings disagree;
- short text repeated on a page (a "Total" in two tables, the same number in two places): the tie goes to the
  block next in reading order, which may be the wrong one;
- a spotted line that runs across two blocks (a heading and the paragraph beside it, two table cells read as
  one line) matches neither well enough and is lost to both;
- text only the spotting saw in the body (words inside a figure the parser left out) is dropped, and a header
  line that sits lower than the top margin, or a page whose blocks all failed to align, gets no header/footer.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import replace

from rapidfuzz import fuzz

from gateway.documents.blocks import Block, PixelBox
from prompts.spotting import Box

MIN_ANCHOR = 4  # characters, normalised; shorter lines hold too little to be placed by text alone
MATCH = 85  # rapidfuzz score (0–100) for a line to count as part of a block
TIE = 3  # scores this close to the best are a tie, settled by reading order
NEAR = 1.5  # line heights: how far a short line may lie from its block's lines
MIN_COVERAGE = 0.5  # share of a block's characters its lines must account for
MARGIN = 0.12  # share of the page height at the top and the bottom where running headers and footers sit
_FURNITURE = ("page_header", "page_footer")
_TAG = re.compile(r"<[^<>]*>")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")


def align(blocks: Sequence[Block], lines: Sequence[Box], height: int) -> list[Block]:
    """``blocks`` with the boxes found for them (a block that has none stays without), and the running header
    and footer lines only the spotting saw, as page_header blocks first and page_footer blocks last."""
    alignment = _Alignment(blocks, lines)
    placed = [replace(block, box=box) for block, box in zip(blocks, alignment.boxes(), strict=True)]
    unclaimed = [line for line, owner in zip(lines, alignment.owner, strict=True) if owner is None]
    headers, footers = _furniture(placed, unclaimed, height)
    return headers + placed + footers


def normalise(text: str) -> str:
    """``text`` for comparison: tags and LaTeX commands gone, NFKC, case folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", _LATEX_COMMAND.sub("", _TAG.sub("", text))).casefold()
    return "".join(char for char in text if unicodedata.category(char)[0] in "LN")


class _Alignment:
    """Which block owns which line (steps 2–5 of the module docstring)."""

    def __init__(self, blocks: Sequence[Block], lines: Sequence[Box]) -> None:
        self.blocks, self.lines = blocks, lines
        self.texts = [normalise(block.text) for block in blocks]
        self.line_texts = [normalise(line.text) for line in lines]
        self.owner: list[int | None] = [None] * len(lines)
        self.union: dict[int, PixelBox] = {}  # the box around each block's lines so far
        self.covered = [0] * len(blocks)  # characters of each block's text its lines account for so far
        self.fixed = {index for index, block in enumerate(blocks) if block.box is not None}
        heights = [line.box[3] - line.box[1] for line in lines if line.box[3] > line.box[1]]
        self.reach = NEAR * (statistics.median(heights) if heights else 0)
        self._claim_inside_fixed()
        self._anchor()
        self._grow()
        self._release_thin()

    def boxes(self) -> list[PixelBox | None]:
        return [block.box if index in self.fixed else self.union.get(index) for index, block in enumerate(self.blocks)]

    def _give(self, number: int, index: int) -> None:
        self.owner[number] = index
        self.covered[index] += len(self.line_texts[number])
        box = self.lines[number].box
        if (union := self.union.get(index)) is not None:
            box = (min(box[0], union[0]), min(box[1], union[1]), max(box[2], union[2]), max(box[3], union[3]))
        self.union[index] = box

    def _claim_inside_fixed(self) -> None:
        for index in sorted(self.fixed):
            box = self.blocks[index].box
            assert box is not None
            for number, line in enumerate(self.lines):
                x, y = (line.box[0] + line.box[2]) / 2, (line.box[1] + line.box[3]) / 2
                if self.owner[number] is None and box[0] <= x <= box[2] and box[1] <= y <= box[3]:
                    self._give(number, index)

    def _anchor(self) -> None:
        previous = 0
        for number, text in enumerate(self.line_texts):
            if self.owner[number] is None and text:
                best = self._best_block(text, previous)
                if best is not None:
                    self._give(number, best)
                    previous = best

    def _best_block(self, line: str, previous: int) -> int | None:
        scores = {}
        for index, text in enumerate(self.texts):
            if index in self.fixed or not text:
                continue
            if len(line) < MIN_ANCHOR:
                score = 100.0 if line == text else 0.0
            else:
                score = fuzz.partial_ratio(line, text) if len(line) <= len(text) else fuzz.ratio(line, text)
            if score >= MATCH:
                scores[index] = score
        if not scores:
            return None
        top = max(scores.values())
        tied = [index for index, score in scores.items() if score >= top - TIE]
        return min(tied, key=lambda index: (self._full(index), index < previous, abs(index - previous)))

    def _full(self, index: int) -> bool:
        return self.covered[index] >= len(self.texts[index])

    def _grow(self) -> None:
        """Short lines join a nearby block that holds them; repeated while lines keep joining."""
        joined = True
        while joined:
            joined = False
            for number, text in enumerate(self.line_texts):
                if self.owner[number] is None and 0 < len(text) < MIN_ANCHOR:
                    block = self._nearest_holder(number, text)
                    if block is not None:
                        self._give(number, block)
                        joined = True

    def _nearest_holder(self, number: int, text: str) -> int | None:
        line = self.lines[number].box
        distances = {}
        for index, box in self.union.items():
            if index not in self.fixed and text in self.texts[index] and (gap := _gap(line, box)) <= self.reach:
                distances[index] = gap
        return min(distances, key=distances.__getitem__) if distances else None

    def _release_thin(self) -> None:
        thin = {
            index
            for index in self.union
            if index not in self.fixed and self.covered[index] < MIN_COVERAGE * len(self.texts[index])
        }
        for number, owner in enumerate(self.owner):
            if owner in thin:
                self.owner[number] = None
        for index in thin:
            del self.union[index]


def _gap(line: PixelBox, box: PixelBox) -> float:
    """How far ``line`` lies from ``box`` vertically; infinite when they do not overlap horizontally."""
    if line[2] < box[0] or line[0] > box[2]:
        return float("inf")
    return max(0, box[1] - line[3], line[1] - box[3])


def _furniture(placed: list[Block], unclaimed: list[Box], height: int) -> tuple[list[Block], list[Block]]:
    boxes = [block.box for block in placed if block.box is not None and block.kind not in _FURNITURE]
    if not boxes:
        return [], []
    top = min(min(box[1] for box in boxes), MARGIN * height)
    bottom = max(max(box[3] for box in boxes), (1 - MARGIN) * height)
    headers = [Block("page_header", line.text, box=line.box) for line in unclaimed if line.box[3] <= top]
    footers = [Block("page_footer", line.text, box=line.box) for line in unclaimed if line.box[1] >= bottom]
    return [block for block in headers if block.text], [block for block in footers if block.text]
