"""A page read region by region: text lines grouped by the layout's regions, the regions put in reading order, and
the page written as HunyuanOCR writes its document answer, so the same reader (``gateway/documents/markdown.py``)
turns either engine's answer into headings, paragraphs, tables, figures and captions.

1. Each line joins the smallest region holding at least ``INSIDE`` of it (a title's region, which can be narrower
   than its line, when it shares that much of its own area), a header or footer region only when no other holds it
   (the model calls a page's first lines of large print a header as often as not). Lines in no region stand alone.
2. Regions with their lines, and lone lines, are ordered by ``reading_order`` as one page of boxes (columns whole,
   left to right), each region by its lines clipped to its box, with the page's own line height setting how wide
   a gutter is (``REGION_GUTTER``) and how far down a running header may sit (``REGION_MARGIN``).
3. Within a region, its lines are ordered the same way.
4. A figure holding lines of prose is no figure (a page in a printed frame, taken for one picture): its lines are
   read as lines in no region.
5. Furniture is what ``reading_order`` finds running in the top or bottom margin, apart from the body (a header
   region or a lone line there: a page number the layout missed); the model's header or footer label alone is
   not enough, since body text it mislabels would be lost. Left out of the document answer (as HunyuanOCR's
   document prompt asks: headers and footers ignored), kept in the page's text.

In the document answer (Markdown): a title is a heading (``#`` for a page's first part, ``##`` after), a figure is
its box as HunyuanOCR writes one — ``caption(x1,y1),(x2,y2)`` in 0–1000, the words inside the figure left out as
the model leaves them — a table is an HTML table when a table reader gave one (its caption inside), and anything
else a paragraph, wrapped lines run on and short ones (an address, a list) kept apart, a line that starts with a
bullet glyph a list item; a paragraph cut by a column break runs on into the next column, the floats between
(figures, tables, captions) after it. Formulas stay as their recognised text: PP-OCR reads no LaTeX.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import escape

from adapters.rapidocr_layout import Region
from adapters.reading_order import (
    FURNITURE_LINES,
    WRAPPED_WIDTH,
    Block,
    Box,
    PageOrder,
    Piece,
    is_vertical,
    joined,
    read_order,
    union,
)
from adapters.reading_order import text as order_text

INSIDE = 0.5  # share of a line's area a region must hold for the line to be read as part of it
FURNITURE = frozenset({"header", "footer"})
PROSE = frozenset({"text", "reference", "equation", *FURNITURE})  # written as paragraphs
PROSE_LINES = 3  # lines of prose that make a "figure" a block of text (a chart's labels are short)
# Line heights: the narrowest white strip between two columns of regions. Narrower than between lines alone
# (``reading_order.GUTTER``): regions are whole paragraphs, and two of them side by side are columns however
# narrow the strip (justified columns 0.6 line heights apart, as in a handbook's pages).
REGION_GUTTER = 0.5
# Share of the page height where a running header or footer may sit when the layout finds the page's regions: wider
# than for lines alone (``reading_order.MARGIN``), since only a header or footer region or a lone line there is
# furniture (``_furniture_if``), and papers set on Letter paper carry theirs 12% down the page.
REGION_MARGIN = 0.15
CAPTIONS = {"figure_caption": "figure", "table_caption": "table"}  # a caption's kind → what it names
FLOATS = frozenset({"figure", "table", *CAPTIONS})  # set where they fit, not where the text they interrupt runs


@dataclass(frozen=True)
class Part:
    """One region of the page, or one line in none, with its lines in reading order."""

    kind: str  # the layout's label; "text" for a line in no region
    lines: list[int]  # indices into the page's lines
    box: Box  # the region's box (a lone line's own)
    furniture: bool = False
    loose: bool = False  # lines in no region: runs of them may be one paragraph, a region is one of its own


# A table region's HTML, from its image box and its lines (indices, boxes): None when it cannot be read as one.
TableReader = Callable[[Box, list[int]], str | None]


def page_parts(boxes: Sequence[Box], regions: Sequence[Region], page_height: float) -> list[Part]:
    """The page's parts in reading order; a vertical CJK page (or one without regions) as ``reading_order``
    alone reads it, one part per block."""
    if not boxes:
        return []
    if not regions or is_vertical(boxes):
        order = read_order(boxes, page_height)
        return [
            *(Part("header", block.lines, block.box, True) for block in order.header),
            *(Part("text", block.lines, block.box, loose=True) for block in order.body),
            *(Part("footer", block.lines, block.box, True) for block in order.footer),
        ]
    line_height = _line_height(boxes) or 1.0
    regions = [region for region in regions if not _prose_in_figure(region, boxes, line_height)]
    owners = [_owner(box, regions) for box in boxes]
    parts: list[Part] = []
    for index, region in enumerate(regions):
        lines = [line for line, owner in enumerate(owners) if owner == index]
        if lines or region.kind in ("figure", "table"):
            parts.append(Part(region.kind, _ordered(lines, boxes), region.box))
    parts += [Part("text", [line], boxes[line], loose=True) for line, owner in enumerate(owners) if owner is None]
    spans = [_span(part, boxes) for part in parts]
    order = read_order(
        spans, page_height, line_height=line_height, vertical=False, gutter=REGION_GUTTER, margin=REGION_MARGIN
    )
    running = {index for block in (*order.header, *order.footer) for index in block.lines}
    ordered = [index for block in (*order.header, *order.body, *order.footer) for index in block.lines]
    return [_furniture_if(parts[index], index in running) for index in ordered]


def _span(part: Part, boxes: Sequence[Box]) -> Box:
    """Where a part stands for its reading order: a region by the text it holds (a text region's box can stand
    wider than its words and overlap a neighbour) within its own box (a detected line's box stands a few pixels
    past the ink, into a narrow gutter); a figure or a table by its own box (its words can be a few labels in a
    corner of it)."""
    if part.kind in ("figure", "table") or not part.lines:
        return part.box
    text = union([boxes[i] for i in part.lines])
    clipped = _intersection(text, part.box)
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else text


def plain_text(parts: Sequence[Part], texts: Sequence[str], boxes: Sequence[Box], *, furniture: bool = True) -> str:
    """The page's words part by part, joined as ``reading_order`` joins blocks (a line break within a paragraph,
    a blank line between paragraphs), each part's lines as it joins them (boxes on one row side by side)."""
    shown = [part for part in parts if part.lines and (furniture or not part.furniture)]
    pieces = [_piece(_lines_text(part.lines, texts, boxes, rows=part.kind == "table"), part, boxes) for part in shown]
    return joined(pieces, _line_height(boxes))


def document_markdown(
    parts: Sequence[Part],
    texts: Sequence[str],
    boxes: Sequence[Box],
    size: tuple[int, int],
    read_table: TableReader | None = None,
) -> str:
    """The page's body as HunyuanOCR's document answer: Markdown, tables in HTML, figures as their boxes."""
    body, continued = _runs_on([part for part in parts if not part.furniture], texts)
    captions = _captions(body)
    height = _line_height(boxes)
    out: list[str] = []
    prose: list[Piece] = []  # consecutive plain parts, joined as paragraphs or as lines of one
    for index, part in enumerate(body):
        if index in captions.values():
            continue  # written with the figure or table it names
        caption = _lines_text(body[captions[index]].lines, texts, boxes) if index in captions else ""
        paragraph = _bulleted(_lines_text(part.lines, texts, boxes, flow=True)) if part.kind in PROSE else ""
        if part.loose:
            prose.append(_piece(paragraph, part, boxes))
            continue
        if prose:
            out.append(joined(prose, height, flow=True))
            prose = []
        if index in continued:
            out[-1] += f" {paragraph}"
        elif part.kind in PROSE:
            out.append(paragraph)
        elif part.kind == "figure":
            out.append(" ".join(caption.split()) + _figure_box(part.box, size))
        elif part.kind == "table" and read_table is not None and (html := read_table(part.box, part.lines)):
            named = escape(caption, quote=False)
            out.append(html.replace("<table>", f"<table><caption>{named}</caption>", 1) if caption else html)
        elif part.kind == "title":
            heading = "#" if not any(out) else "##"
            out.append(f"{heading} {' '.join(texts[line] for line in part.lines)}")
        else:
            out.append(caption)
            out.append(_lines_text(part.lines, texts, boxes, rows=part.kind == "table"))
    out.append(joined(prose, height, flow=True))
    return "\n\n".join(text for text in out if text.strip())


def _runs_on(body: list[Part], texts: Sequence[str]) -> tuple[list[Part], set[int]]:
    """The body with each paragraph cut by a column or page break (a text region ending mid-sentence, the next
    text region starting in lower case) read on, the figures, tables and captions between them moved after it, as
    document pipelines read a float set into a paragraph; and the indices of the parts that go on the paragraph
    before them."""
    ordered = list(body)
    continued: set[int] = set()
    for index in range(len(ordered) - 1):
        after = index + 1
        while after < len(ordered) - 1 and ordered[after].kind in FLOATS:
            after += 1
        if _goes_on(ordered[index], ordered[after], texts):
            ordered.insert(index + 1, ordered.pop(after))
            continued.add(index + 1)
    return ordered, continued


def _goes_on(part: Part, then: Part, texts: Sequence[str]) -> bool:
    """Whether ``then`` goes on the sentence ``part`` left unfinished: both text regions, ``part``'s last line
    ending in a letter, a digit, a comma or a hyphen, ``then``'s first line starting with a lower-case letter."""
    if part.kind != "text" or then.kind != "text" or part.loose or then.loose or not part.lines or not then.lines:
        return False
    end, start = texts[part.lines[-1]].rstrip(), texts[then.lines[0]].lstrip()
    return bool(end) and bool(start) and (end[-1].isalnum() or end[-1] in ",-") and start[0].islower()


def _bulleted(text: str) -> str:
    """Lines that start with a bullet glyph as Markdown list items (the layout model has no list class)."""
    return _BULLET.sub("- ", text)


_BULLET = re.compile(r"^[•●▪■◦○‣⁃·]\s*", re.MULTILINE)


def _piece(text: str, part: Part, boxes: Sequence[Box]) -> Piece:
    """The part's text, with its first and last lines' boxes (where it meets its neighbours)."""
    return Piece(text, boxes[part.lines[0]], boxes[part.lines[-1]])


def _line_height(boxes: Sequence[Box]) -> float:
    return statistics.median(box[3] - box[1] for box in boxes) if boxes else 1.0


def _held_area(line: Box, region: Region) -> float:
    return min(_area(line), _area(region.box)) if region.kind == "title" else _area(line)


def _prose_in_figure(region: Region, boxes: Sequence[Box], line_height: float) -> bool:
    """A "figure" holding ``PROSE_LINES`` lines of prose (as wide as wrapped lines): a page or a box of text the
    model took for a picture (a page inside a printed frame: one figure over all of it). Read as text instead."""
    if region.kind != "figure":
        return False
    inside = [box for box in boxes if _area(_intersection(box, region.box)) >= INSIDE * max(_area(box), 1e-6)]
    return sum(box[2] - box[0] >= WRAPPED_WIDTH * line_height for box in inside) >= PROSE_LINES


def _owner(line: Box, regions: Sequence[Region]) -> int | None:
    """The index of the region the line belongs to (the smallest holding at least ``INSIDE`` of the line — of the
    title's own area for a title, whose box can be narrower than its line — a header or footer only when no other
    does), or None."""
    holding = [
        (region.kind in FURNITURE, _area(region.box), index)
        for index, region in enumerate(regions)
        if _area(_intersection(line, region.box)) >= INSIDE * max(_held_area(line, region), 1e-6)
    ]
    return min(holding)[2] if holding else None


def _ordered(lines: list[int], boxes: Sequence[Box]) -> list[int]:
    if len(lines) < 2:
        return lines
    order = read_order([boxes[line] for line in lines], None, vertical=False)
    return [lines[index] for block in order.body for index in block.lines]


def _lines_text(
    lines: list[int], texts: Sequence[str], boxes: Sequence[Box], *, rows: bool = False, flow: bool = False
) -> str:
    """The lines' text in reading order, or row by row across (a table's cells) when ``rows``; with ``flow``,
    wrapped prose runs on (``reading_order.joined``)."""
    if not lines:
        return ""
    own_boxes = [boxes[line] for line in lines]
    if rows:
        across = sorted(range(len(lines)), key=lambda index: (own_boxes[index][1], own_boxes[index][0]))
        order = PageOrder([], [Block(across, union(own_boxes))], [])
    else:
        order = read_order(own_boxes, None, vertical=is_vertical(boxes))
    return order_text(order, [texts[line] for line in lines], own_boxes, flow=flow)


def _captions(parts: Sequence[Part]) -> dict[int, int]:
    """Figure or table index → the index of its caption: the caption part just before or after it."""
    found: dict[int, int] = {}
    for index, part in enumerate(parts):
        named = CAPTIONS.get(part.kind)
        for neighbour in (index + 1, index - 1) if named == "table" else (index - 1, index + 1):
            if named and 0 <= neighbour < len(parts) and parts[neighbour].kind == named and neighbour not in found:
                found[neighbour] = index
                break
    return found


def per_mille(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` in 0–1000 of the image's sides, as HunyuanOCR gives coordinates."""
    width, height = size
    x1, y1, x2, y2 = box
    return _per_mille(x1, width), _per_mille(y1, height), _per_mille(x2, width), _per_mille(y2, height)


def _per_mille(value: float, side: int) -> int:
    return min(max(round(value * 1000 / side), 0), 1000)


def _figure_box(box: Box, size: tuple[int, int]) -> str:
    x1, y1, x2, y2 = per_mille(box, size)
    return f"({x1},{y1}),({x2},{y2})"


def _furniture_if(part: Part, running: bool) -> Part:
    """A part in the running header or footer band is furniture when it is a header or footer region or a lone
    line, of at most ``FURNITURE_LINES`` lines: a paragraph or a footnote there stays in the body."""
    lone = part.kind == "text" and len(part.lines) == 1
    if running and (part.kind in FURNITURE or lone) and len(part.lines) <= FURNITURE_LINES:
        return replace(part, furniture=True)
    return part


def _intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
