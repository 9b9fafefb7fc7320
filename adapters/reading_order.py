"""Reading order for the lines a text detector found on a page: recursive XY-cut, with running headers and footers
told apart.

A text detector (RapidOCR's DBNet) gives lines in no useful order, and RapidOCR's own joining reads row by row
across the whole page, so a two-column page comes out with its columns interleaved and every sentence broken.
Document pipelines read by regions in order; without a layout model the regions come from the whitespace itself:

1. The region's lines are cut where a horizontal band of white runs across the whole region (between rows), into
   bands read top to bottom.
2. Bands that share a column gutter — a vertical strip no line of theirs crosses, at least ``GUTTER`` line
   heights wide — are joined again: lines typeset on one grid leave a white band between every row of a
   two-column page, and cutting there first would read the columns row by row.
3. A region with a gutter is cut there into columns, read left to right; each column, or a band without one, is
   read again from step 1. A region that cannot be cut is one block, its lines top to bottom.

Vertical CJK (most lines taller than wide) is the same page turned a quarter: columns run top to bottom, right to
left. Running headers and footers are the first and last bands of the page when they lie in its top or bottom
``MARGIN``, hold at most ``FURNITURE_LINES`` lines and stand apart from the body by more than a line's height.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, in pixels
GUTTER = 1.0  # line heights: the narrowest white strip between two columns
PARAGRAPH = 0.8  # line heights: a wider gap between two lines of a column starts a paragraph
MARGIN = 0.1  # share of the page height where a running header or footer sits
FURNITURE_LINES = 2
SAME_ROW = 0.5  # share of the shorter box's height two boxes must share to be on one row
# Prose wrapped at a justified column's edge: a line at least WRAPPED_WIDTH line heights wide, ending within
# WRAPPED line heights of the next line's right edge, between ASCII characters (CJK lines keep their breaks; no
# de-hyphenation: "exam-" + "ple" runs on as "exam- ple").
WRAPPED = 1.0
WRAPPED_WIDTH = 15


@dataclass(frozen=True)
class Block:
    """Lines read as one run: indices into the page's lines, in order."""

    lines: list[int]
    box: Box


@dataclass(frozen=True)
class Piece:
    """A block's text, with the boxes of its first and last rows (where it meets the blocks before and after)."""

    text: str
    first: Box
    last: Box


@dataclass(frozen=True)
class PageOrder:
    header: list[Block]
    body: list[Block]
    footer: list[Block]
    vertical: bool = False  # columns of CJK read top to bottom, right to left: each line is a row of its own


def read_order(
    boxes: Sequence[Box],
    page_height: float | None,
    *,
    line_height: float | None = None,
    vertical: bool | None = None,
    gutter: float = GUTTER,
    margin: float = MARGIN,
) -> PageOrder:
    """The page's lines as blocks in reading order, running header and footer apart (none looked for when
    ``page_height`` is None). The boxes may be larger than lines (a layout's regions): ``line_height`` then gives
    the text's own, which sets how wide a gutter is (``gutter`` line heights), and ``vertical`` what the lines said
    (tall regions of a horizontal page are no vertical CJK); None: judged from ``boxes``; ``margin`` the share of
    the page height where a running header or footer may sit."""
    if not boxes:
        return PageOrder([], [], [])
    vertical = is_vertical(boxes) if vertical is None else vertical
    # Turned a quarter clockwise, vertical columns read right to left become rows read top to bottom.
    oriented = [(y0, -x1, y1, -x0) for x0, y0, x1, y1 in boxes] if vertical else list(boxes)
    height = line_height or statistics.median(box[3] - box[1] for box in oriented) or 1.0
    cutter = _Cutter(oriented, gutter * height)
    bands = cutter.bands(list(range(len(boxes))))
    header: list[list[int]] = []
    footer: list[list[int]] = []
    if not vertical and page_height is not None:
        header, bands, footer = _furniture(bands, oriented, height, page_height, page_height * margin)
    body = cutter.blocks([index for band in bands for index in band]) if bands else []
    if vertical:  # the blocks' boxes back in the page's own coordinates
        body = [Block(block.lines, union([boxes[index] for index in block.lines])) for block in body]
    return PageOrder(_blocks(header, boxes), body, _blocks(footer, boxes), vertical)


def is_vertical(boxes: Sequence[Box]) -> bool:
    """Whether most lines are taller than wide: vertical CJK."""
    return sum(1 for box in boxes if box[3] - box[1] > 1.5 * (box[2] - box[0])) > len(boxes) / 2


def text(
    order: PageOrder, texts: Sequence[str], boxes: Sequence[Box], *, furniture: bool = True, flow: bool = False
) -> str:
    """The page's text in reading order: a block's lines one per line (boxes on one row joined by a space), a blank
    line between paragraphs; the header and footer too unless ``furniture`` is False; with ``flow``, a paragraph's
    lines run on (``joined``)."""
    blocks = [*order.header, *order.body, *order.footer] if furniture else order.body
    height = statistics.median(box[3] - box[1] for box in boxes) if boxes else 1.0
    if order.vertical:
        pieces = [Piece("\n".join(texts[i] for i in block.lines), block.box, block.box) for block in blocks]
        return joined(pieces, height, paragraphs_only=True)
    return joined([_block_text(block, texts, boxes, height, flow) for block in blocks], height, flow=flow)


def joined(pieces: Sequence[Piece], line_height: float, *, paragraphs_only: bool = False, flow: bool = False) -> str:
    """Blocks' texts in order: a line break where a block goes on the paragraph of
    the one before (just below it, in the same column), else a blank line (always, when ``paragraphs_only``). With
    ``flow``, a line that reaches about as far right as the next (prose wrapped at the column's edge) runs on into
    it after a space, while short lines (an address, a list, a paragraph's last line) keep their breaks."""
    out: list[str] = []
    previous: Box | None = None
    for piece in pieces:
        if previous is not None:
            continues = not paragraphs_only and _continues(previous, piece.first, line_height)
            wrapped = flow and _wrapped(previous, piece.first, line_height, out[-1], piece.text)
            out.append((" " if wrapped else "\n") if continues else "\n\n")
        out.append(piece.text)
        previous = piece.last
    return "".join(out)


def _wrapped(previous: Box, box: Box, line_height: float, before: str, after: str) -> bool:
    """Whether the line ``before`` (its box ``previous``) was wrapped into ``after`` (``box``): ``WRAPPED``, and
    ``after`` starts no list item."""
    wide = previous[2] - previous[0] >= WRAPPED_WIDTH * line_height
    latin = bool(before) and bool(after) and before[-1].isascii() and after[0].isascii()
    return wide and latin and previous[2] >= box[2] - WRAPPED * line_height and not LIST_ITEM.match(after)


LIST_ITEM = re.compile(r"[•●▪■◦○‣⁃·]|[-*]\s|\d{1,3}[.)]\s|\(?[a-z]\)\s")  # a list item's marker


class _Cutter:
    def __init__(self, boxes: list[Box], gutter: float) -> None:
        self._boxes = boxes
        self._gutter_width = gutter  # px: the narrowest white strip between two columns

    def bands(self, lines: list[int]) -> list[list[int]]:
        """``lines`` cut at every horizontal white band, top to bottom."""
        return _split(lines, self._boxes, axis=1, min_gap=0.0)

    def blocks(self, lines: list[int]) -> list[Block]:
        """``lines`` (one region) as blocks in reading order. Every recursion is on a strict subset: it ends."""
        columns = self._columns(lines)
        if len(columns) > 1:
            return [block for column in columns for block in self.blocks(column)]
        bands = self.bands(lines)
        if len(bands) == 1:
            ordered = sorted(lines, key=lambda index: (self._boxes[index][1], self._boxes[index][0]))
            return [Block(ordered, union([self._boxes[index] for index in lines]))]
        groups = self._joined(bands)
        if len(groups) == 1:  # joined back whole, yet no gutter to cut at: read it band by band
            groups = bands
        return [block for group in groups for block in self.blocks(group)]

    def _columns(self, lines: list[int]) -> list[list[int]]:
        return _split(lines, self._boxes, axis=0, min_gap=self._gutter_width)

    def _joined(self, bands: list[list[int]]) -> list[list[int]]:
        """Consecutive bands that share a gutter (no line of theirs crosses it) joined into one region."""
        groups: list[tuple[list[int], Strip | None]] = []
        for band in bands:
            gutter = self._gutter(band)
            if groups:
                lines, shared = groups[-1]
                common = _common(shared, gutter, [self._boxes[index] for index in band])
                if common is not None and common[1] - common[0] > self._gutter_width:
                    groups[-1] = (lines + band, common)
                    continue
            groups.append((band, gutter))
        return [lines for lines, _ in groups]

    def _gutter(self, lines: list[int]) -> Strip | None:
        """The widest white vertical strip between this band's lines, if one is wide enough."""
        spans = sorted((self._boxes[index][0], self._boxes[index][2]) for index in lines)
        best: Strip | None = None
        reach = spans[0][1]
        for left, right in spans[1:]:
            if left - reach > self._gutter_width and (best is None or left - reach > best[1] - best[0]):
                best = (reach, left)
            reach = max(reach, right)
        return best


Strip = tuple[float, float]  # left, right


def _common(shared: Strip | None, gutter: Strip | None, boxes: list[Box]) -> Strip | None:
    """The gutter a group keeps once a band joins it, or None when the band cannot join: a band with a gutter joins
    a group whose gutter overlaps it; a band without one (a column's short last line) joins when none of its lines
    crosses the group's gutter."""
    if shared is None:
        return None
    if gutter is not None:
        left, right = max(shared[0], gutter[0]), min(shared[1], gutter[1])
        return (left, right) if left < right else None
    crosses = any(box[0] < shared[1] and box[2] > shared[0] for box in boxes)
    return None if crosses else shared


def _split(lines: list[int], boxes: list[Box], *, axis: int, min_gap: float) -> list[list[int]]:
    """``lines`` in groups separated by white gaps wider than ``min_gap`` along ``axis`` (0: x, 1: y)."""
    ordered = sorted(lines, key=lambda index: boxes[index][axis])
    groups: list[list[int]] = []
    reach = float("-inf")
    for index in ordered:
        start, end = boxes[index][axis], boxes[index][axis + 2]
        if not groups or start - reach > min_gap:
            groups.append([])
        groups[-1].append(index)
        reach = max(reach, end)
    return groups


def _furniture(
    bands: list[list[int]], boxes: list[Box], line_height: float, page_height: float, margin: float
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """(header bands, body bands, footer bands): a first or last band within ``margin`` px of the page's top or
    bottom, of at most ``FURNITURE_LINES`` rows, a line's height or more away from the rest."""
    header: list[list[int]] = []
    footer: list[list[int]] = []
    if len(bands) < 3:
        return header, bands, footer
    first, second = union([boxes[i] for i in bands[0]]), union([boxes[i] for i in bands[1]])
    if first[3] <= margin and second[1] - first[3] > line_height and _rows(bands[0], boxes) <= FURNITURE_LINES:
        header, bands = [bands[0]], bands[1:]
    last, before = union([boxes[i] for i in bands[-1]]), union([boxes[i] for i in bands[-2]])
    low = last[1] >= page_height - margin
    if low and last[1] - before[3] > line_height and _rows(bands[-1], boxes) <= FURNITURE_LINES:
        footer, bands = [bands[-1]], bands[:-1]
    return header, bands, footer


def _rows(lines: list[int], boxes: list[Box]) -> int:
    return len(_split(lines, boxes, axis=1, min_gap=0.0))


def _blocks(bands: list[list[int]], boxes: Sequence[Box]) -> list[Block]:
    return [
        Block(sorted(band, key=lambda i: (boxes[i][1], boxes[i][0])), union([boxes[i] for i in band])) for band in bands
    ]


def union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _continues(previous: Box, box: Box, line_height: float) -> bool:
    """Whether ``box`` goes on the paragraph of ``previous``: just below it, in the same column."""
    same_column = box[0] < previous[2] and box[2] > previous[0]
    return same_column and 0 <= box[1] - previous[3] <= PARAGRAPH * line_height


def _block_text(block: Block, texts: Sequence[str], boxes: Sequence[Box], line_height: float, flow: bool) -> Piece:
    """A block's lines, one per row (run on with ``flow``, as ``joined``), boxes on one row left to right."""
    rows: list[list[int]] = []
    for index in block.lines:
        if rows and _same_row(boxes[rows[-1][-1]], boxes[index]):
            rows[-1].append(index)
        else:
            rows.append([index])
    row_boxes = [union([boxes[i] for i in row]) for row in rows]
    row_texts = [" ".join(texts[i] for i in sorted(row, key=lambda i: boxes[i][0])) for row in rows]
    out = row_texts[:1]
    for number in range(1, len(rows)):
        wrapped = flow and _wrapped(row_boxes[number - 1], row_boxes[number], line_height, out[-1], row_texts[number])
        out += [" " if wrapped else "\n", row_texts[number]]
    return Piece("".join(out), row_boxes[0], row_boxes[-1])


def _same_row(a: Box, b: Box) -> bool:
    shared = min(a[3], b[3]) - max(a[1], b[1])
    return shared >= SAME_ROW * min(a[3] - a[1], b[3] - b[1])
